"""The hub as a user runs it: `python main.py` in its own process, the simulator, a SQLite file."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import uvicorn
import yaml

from hub.app import create_app
from hub.auth import hash_token
from hub.history import HistoryLog, Query
from hub.history.sqlite import SqliteHistory
from hub.settings import Settings
from hub.templates import COMMAND_FILE, TELEMETRY_FILE, load_templates
from main import OrderlyUvicorn
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import Client, HubProcess, Message, eventually, free_port, is_, main_process

ROOT = Path(__file__).parent.parent
RATES = {t.id: t.rate_hz for t in load_templates(ROOT / "templates").telemetry_types}
HEAVY = 70
"""Rate factor for heavy ingest: the default templates' 60 points/s become about 4,200 points/s."""
LOSS_BOUND_S = 0.5
"""kill -9 may lose what was produced this long before it: the 0.1 s flush interval, plus the time a batch
takes to write and slack for a busy 2-core machine. Measured at 4,200 points/s on 2 cores, idle or with both
busy: 3-107 ms, 12-456 messages (the kill -9 test prints its figures with -s)."""


@asynccontextmanager
async def hub_process(
    database: Path, templates: Path | None = None, port: int | None = None
) -> AsyncIterator[HubProcess]:
    """main.py with the simulator and a SQLite log; `templates` is given as HUB_TEMPLATES_DIR (default: the
    repository's templates/)."""
    env = {"HUB_TEMPLATES_DIR": str(templates)} if templates is not None else {}
    async with main_process(["--history-url", f"sqlite:///{database}"], env, port) as hub:
        yield hub


def spacing(messages: list[dict[str, object]]) -> list[float]:
    """The seconds between the timestamps of consecutive messages."""
    times = [timestamp(m) for m in messages]
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


def timestamp(message: Message) -> float:
    """A message's timestamp, in seconds since the epoch."""
    return datetime.fromisoformat(str(message["timestamp"])).timestamp()


def scaled_templates(directory: Path, factor: float) -> Path:
    """A copy of the default templates in `directory`, every telemetry rate multiplied by `factor`."""
    directory.mkdir()
    telemetry = yaml.safe_load((ROOT / "templates" / TELEMETRY_FILE).read_text())
    for definition in telemetry["telemetry_types"]:
        definition["rate_hz"] *= factor
    (directory / TELEMETRY_FILE).write_text(yaml.safe_dump(telemetry, sort_keys=False, allow_unicode=True))
    shutil.copy(ROOT / "templates" / COMMAND_FILE, directory / COMMAND_FILE)
    return directory


async def read_log(database: Path) -> dict[int, Message]:
    """Every message in the SQLite log by seq, read back as the hub reads it (data messages are rebuilt
    from the compact layout), after checking that the file is intact."""
    db = sqlite3.connect(database)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
    log = HistoryLog(SqliteHistory(database))
    await log.open(write=False)
    try:
        found: dict[int, Message] = {}
        while page := await log.query(Query(after_seq=max(found, default=0), limit=10_000)):
            found |= {record.seq: json.loads(record.payload) for record in page}
        return found
    finally:
        await log.close()


async def test_new_user_scenario(tmp_path: Path) -> None:
    """Two ids arrive at their rates and nothing else; a command is confirmed; history matches the stream."""
    async with hub_process(tmp_path / "history.db") as hub:
        client = await Client().connect(hub.url)
        ack = await client.call("subscribe", {"ids": ["battery_voltage", "battery_temp"]})
        assert ack == {"ok": True, "subscribed": ["battery_temp", "battery_voltage"]}
        voltage = await client.wait_for(is_("data", id="battery_voltage"), count=8, within=10)
        temp = await client.wait_for(is_("data", id="battery_temp"), count=4, within=10)
        assert set(spacing(voltage[1:])) == {round(1 / RATES["battery_voltage"], 6)}  # [0] is the last value
        assert set(spacing(temp[1:])) == {round(1 / RATES["battery_temp"], 6)}
        assert {m["id"] for m in client.of("data")} == {"battery_voltage", "battery_temp"}

        ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "science"}})
        steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=3, within=10)
        assert [s["status"] for s in steps] == ["accepted", "executing", "failed"]
        assert "solar array" in steps[-1]["message"]

        async with httpx.AsyncClient(base_url=hub.url) as http:
            health = (await http.get("/health")).json()
            assert health["status"] == "ok" and health["source"]["state"] == "running"
            streamed = client.of("data", id="battery_voltage")
            params = {"ids": "battery_voltage", "after_seq": streamed[0]["seq"] - 1, "limit": len(streamed)}
            logged = (await http.get("/historical-data", params=params)).json()["items"]
            assert logged == streamed
            confirmations = (await http.get("/historical-data", params={"type": "confirmation"})).json()[
                "items"
            ]
            assert confirmations == steps
        await client.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_disconnects_clients_then_stops_the_source_and_flushes(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGTERM/SIGINT: client connections close cleanly, then the source stops, the log is flushed; exit 0."""
    database = tmp_path / "history.db"
    templates = scaled_templates(tmp_path / "templates", HEAVY)
    async with hub_process(database, templates) as hub:
        client = Client()
        reasons: list[str] = []
        gone = asyncio.Event()

        def on_disconnect(reason: str) -> None:
            reasons.append(reason)
            gone.set()

        client.sio.on("disconnect", on_disconnect)
        await client.connect(hub.url)
        await client.call("subscribe", {"all": True})
        await client.wait_for(is_("data"), count=2000, within=10)
        sid = client.sio.get_sid()
        hub.process.send_signal(signum)
        assert await asyncio.wait_for(hub.process.wait(), 5) == 0
        await asyncio.wait_for(gone.wait(), 10)  # after the messages queued before it
        assert reasons == [socketio.AsyncClient.reason.SERVER_DISCONNECT]  # not a transport close or error
        received = list(client.received)
    lines = "".join(hub.log)
    assert not re.search(r" (ERROR|CRITICAL) |Traceback", lines), lines
    disconnected = lines.index(f"client {sid} disconnected (server disconnect)")
    stopped = re.search(
        r"stopped: source simulator stopped, history log flushed and closed at seq (\d+)", lines
    )
    assert stopped is not None, lines
    assert disconnected < stopped.start()  # the clients first, then the source and the log
    last_seq = int(stopped[1])
    logged = await read_log(database)
    assert max(logged) == last_seq  # everything the hub produced was written, not only what it streamed
    assert all(logged.get(m["seq"]) == m for m in received)  # exactly as streamed

    async with hub_process(database, templates) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        after = await http.get("/historical-data", params={"after_seq": last_seq, "limit": 1})
        assert after.json()["items"][0]["seq"] == last_seq + 1  # a clean restart continues without a gap


@pytest.mark.parametrize("factor", [1, HEAVY], ids=["default-rates", "heavy-ingest"])
async def test_kill_9_loses_only_a_tail_within_the_flush_interval(tmp_path: Path, factor: int) -> None:
    """kill -9: the log is intact, holds every acknowledged command, loses only a short tail; seq goes on."""
    database = tmp_path / "history.db"
    templates = scaled_templates(tmp_path / "templates", factor)
    rate = sum(RATES.values()) * factor
    async with hub_process(database, templates) as hub:
        client = Client()
        gone = asyncio.Event()
        client.sio.on("disconnect", lambda *_: gone.set())
        await client.connect(hub.url)
        await client.call("subscribe", {"all": True})
        await client.wait_for(is_("data"), count=int(rate), within=30)  # a second of data, flowing
        power = "set_transmitter_power"
        acks = [  # generous bounds: a busy machine slows the acks behind 4,200 messages/s, not their order
            await client.call("command", {"command": power, "parameters": {"level_dbm": n}}, within=20)
            for n in range(0, 30, 5)
        ]
        # each command forced a write: let the periodic flush take over; kill at a random point of its cycle
        await asyncio.sleep(random.uniform(0.3, 0.5))
        killed_at = time.time()
        hub.process.send_signal(signal.SIGKILL)
        await hub.process.wait()
        await asyncio.wait_for(gone.wait(), 5)  # the client has read everything the hub sent
        seen = list(client.received)

    logged = await read_log(database)
    lost = [m for m in seen if m["seq"] not in logged]
    oldest = killed_at - min((timestamp(m) for m in lost), default=killed_at)
    newest = killed_at - max(timestamp(m) for m in seen)
    span = max((timestamp(m) for m in lost), default=0) - min((timestamp(m) for m in lost), default=0)
    print(  # the figures the docs quote: run with -s
        f"kill -9 at {rate:.0f} points/s: {len(seen)} seen, {len(acks)} commands acknowledged; "
        f"lost {len(lost)} spanning {span * 1e3:.0f} ms, the oldest produced {oldest * 1e3:.0f} ms "
        f"before the kill (newest seen: {newest * 1e3:.0f} ms before)"
    )
    assert acks and all(ack["ok"] for ack in acks), acks
    for ack in acks:  # an acknowledged command is on disk, as its accepted confirmation
        accepted = is_("confirmation", command_id=ack["command_id"], status="accepted")
        assert ack["seq"] in logged and accepted(logged[ack["seq"]]), ack
    if lost:  # only a tail: batches are written whole and in seq order
        assert min(m["seq"] for m in lost) > max(logged)
    assert oldest <= LOSS_BOUND_S

    seen_seq = max(m["seq"] for m in seen)
    async with hub_process(database, templates) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        after = await http.get("/historical-data", params={"after_seq": max(logged), "limit": 1})
        # no seq the crashed hub streamed is handed out again
        assert after.json()["items"][0]["seq"] > seen_seq
        client = await Client().connect(hub.url)
        await client.call("subscribe", {"all": True})
        await client.wait_for(lambda m: m["type"] == "data" and m["seq"] > seen_seq, within=10)
        await client.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: JS client tests need it")
async def test_a_browser_client_resumes_across_a_sigterm_restart(tmp_path: Path) -> None:
    """socket.io-client reconnects by itself after a SIGTERM and a restart; has every seq of its ids once."""
    database, port = tmp_path / "history.db", free_port()
    templates = scaled_templates(tmp_path / "templates", 10)
    ids = ("battery_voltage", "battery_temp")
    node = await asyncio.create_subprocess_exec(
        "node", str(ROOT / "tests" / "js" / "resume.mjs"), f"http://127.0.0.1:{port}", *ids,
        stdout=asyncio.subprocess.PIPE, env=os.environ | {"STOP_AFTER": "2:40"},
    )  # fmt: skip
    assert node.stdout is not None
    lines = node.stdout

    async def next_ack() -> dict[str, Any]:
        while True:
            line: dict[str, Any] = json.loads(await asyncio.wait_for(lines.readline(), 20))
            if "subscribed" in line:
                return line
            assert "connectError" in line, line  # the hub was down: the client keeps trying

    try:
        async with hub_process(database, templates, port) as hub:
            first = await next_ack()
            watcher = await Client().connect(hub.url)
            await watcher.call("subscribe", {"ids": list(ids)})
            await watcher.wait_for(is_("data"), count=30, within=10)  # data flows to the browser client too
            hub.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(hub.process.wait(), 10) == 0
            await watcher.close()
        async with hub_process(database, templates, port) as hub:
            second = await next_ack()
            summary: dict[str, Any] = json.loads(await asyncio.wait_for(lines.readline(), 20))
            hub.process.send_signal(signal.SIGTERM)  # so that everything streamed is in the log
            assert await asyncio.wait_for(hub.process.wait(), 10) == 0
    finally:
        if node.returncode is None:
            node.kill()
        await node.wait()
    assert first["subscribed"]["ok"] is True and second["subscribed"]["recovered"] is True
    live = [m["seq"] for m in summary["received"][first["receivedBefore"] :] if m["type"] == "data"]
    logged = await read_log(database)
    expected = [seq for seq, m in sorted(logged.items()) if m["type"] == "data" and m["id"] in ids]
    assert live == [
        seq for seq in expected if live[0] <= seq <= live[-1]
    ]  # before, across and after the restart
    assert len(live) > 70


async def test_what_exists_once_serving_is_exempt_from_garbage_collection() -> None:
    """Full collections would rescan the hub's long-lived objects and pause streaming (see OrderlyUvicorn)."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://")
    app = create_app(settings, source=FakeSource())
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None)
    server = OrderlyUvicorn(config, app)
    gc.unfreeze()
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started)  # uvicorn offers no event for this
        assert gc.get_freeze_count() > 10_000
    finally:
        server.should_exit = True
        await task
        gc.unfreeze()


KEPT, REMOVED, ADDED = (
    "kept-token-abcdefghijklmnop",
    "removed-token-abcdefghijklm",
    "added-token-abcdefghijklmno",
)


def write_tokens(file: Path, tokens: dict[str, str]) -> None:
    """A tokens file of operators by name, written the safe way: a new file renamed over the old one."""
    entries = [
        {"name": name, "role": "operator", "sha256": hash_token(token)} for name, token in tokens.items()
    ]
    staged = file.with_suffix(".new")
    staged.write_text(yaml.safe_dump({"tokens": entries}))
    staged.replace(file)


async def refused_with(url: str, token: str | None) -> Any:
    """The connect_error data of a client connecting with `token`, which must be refused."""
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth={"token": token})
    await client.close()
    return client.connect_errors[0]["data"]


async def test_sighup_reloads_the_tokens_and_open_connections_keep_their_identity(tmp_path: Path) -> None:
    """SIGHUP reloads the tokens file: a new token works, a removed one is refused, open connections go on."""
    tokens = tmp_path / "tokens.yaml"
    write_tokens(tokens, {"kept": KEPT, "removed": REMOVED})
    async with main_process(["--history-url", "memory://", "--tokens-file", str(tokens)]) as hub:
        before = await Client().connect(hub.url, auth={"token": REMOVED})
        assert (await before.call("subscribe", {"ids": ["attitude_yaw_deg"]}))["ok"] is True
        await before.wait_for(is_("data"))
        write_tokens(tokens, {"kept": KEPT, "added": ADDED})
        hub.process.send_signal(signal.SIGHUP)
        await hub.logged("hub.auth: tokens reloaded: 2 in effect")
        streamed = len(before.of("data"))
        await before.wait_for(is_("data"), count=streamed + 5)  # 10 a second: still streaming
        assert (await before.call("subscribe", {"ids": ["attitude_roll_deg"]}))["ok"] is True
        added = await Client().connect(hub.url, auth={"token": ADDED})
        kept = await Client().connect(hub.url, auth={"token": KEPT})
        assert await refused_with(hub.url, REMOVED) == {"code": "unauthorized"}
        async with httpx.AsyncClient(base_url=hub.url) as http:
            for token, status in ((ADDED, 200), (KEPT, 200), (REMOVED, 401)):
                reply = await http.get("/telemetry-types", headers={"Authorization": f"Bearer {token}"})
                assert reply.status_code == status
        for client in (before, added, kept):
            await client.close()
        assert hub.process.returncode is None
        hub.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(hub.process.wait(), 10) == 0
    lines = "".join(hub.log)
    assert "(removed, operator) connected" in lines and "(added, operator) connected" in lines
    assert not re.search(r" (ERROR|CRITICAL) |Traceback", lines), lines
    assert all(token not in lines for token in (KEPT, REMOVED, ADDED))


@pytest.mark.parametrize(
    ("host", "content", "problem"),
    [
        ("127.0.0.1", "tokens: [", "not valid YAML"),
        (
            "127.0.0.1",
            "tokens:\n  - {name: x, role: operator, sha256: plain}",
            "tokens.0.sha256: String should",
        ),
        ("127.0.0.1", None, "cannot read it"),
        ("0.0.0.0", "tokens: []", "tokens: the list is empty, but HUB_HOST=0.0.0.0 is reachable"),
    ],
    ids=["not-yaml", "bad-field", "removed-file", "emptied-on-a-reachable-host"],
)
async def test_a_bad_tokens_file_on_sighup_is_logged_and_the_tokens_in_effect_stay(
    tmp_path: Path, host: str, content: str | None, problem: str
) -> None:
    """SIGHUP with a broken tokens file, or one emptied on a reachable host, logs why and changes nothing."""
    tokens = tmp_path / "tokens.yaml"
    write_tokens(tokens, {"kept": KEPT})
    flags = ["--history-url", "memory://", "--host", host, "--tokens-file", str(tokens)]
    async with main_process(flags) as hub:
        if content is None:
            tokens.unlink()
        else:
            tokens.write_text(content)
        hub.process.send_signal(signal.SIGHUP)
        line = await hub.logged("tokens not reloaded")
        assert (
            f" ERROR   hub.auth: tokens not reloaded, the 1 in effect stay: HUB_TOKENS_FILE={str(tokens)!r}: "
            in line
        )
        assert problem in line
        client = await Client().connect(hub.url, auth={"token": KEPT})
        assert (await client.call("subscribe", {"ids": ["battery_voltage"]}))["ok"] is True
        await client.close()
        assert await refused_with(hub.url, None) == {"code": "unauthorized"}  # still not open
        assert hub.process.returncode is None
