"""The hub as a user runs it: `python main.py` in its own process, the simulator, a SQLite file."""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx

from hub.templates import load_templates
from tests.support import Client, is_

ROOT = Path(__file__).parent.parent
RATES = {t.id: t.rate_hz for t in load_templates(ROOT / "templates").telemetry_types}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HubProcess:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.log: list[str] = []


@asynccontextmanager
async def hub_process(database: Path) -> AsyncIterator[HubProcess]:
    """Start main.py with the simulator and a SQLite log; yield once it serves; stop it if still running."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "--port", str(port), "--history-url", f"sqlite:///{database}",
        cwd=ROOT, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    hub = HubProcess(process, f"http://127.0.0.1:{port}")
    assert process.stderr is not None
    while not any("Uvicorn running on" in line for line in hub.log):
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        if not line:
            raise RuntimeError("the hub exited during start-up:\n" + "".join(hub.log))
        hub.log.append(line.decode())
    drain = asyncio.create_task(_collect(process.stderr, hub.log))
    try:
        yield hub
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await drain


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for line in stream:
        into.append(line.decode())


def spacing(messages: list[dict[str, object]]) -> list[float]:
    times = [datetime.fromisoformat(str(m["timestamp"])).timestamp() for m in messages]
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


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


async def test_sigint_flushes_and_seq_continues_after_restart(tmp_path: Path) -> None:
    """SIGINT stops the hub cleanly with everything on disk; a restart continues seq without reuse."""
    database = tmp_path / "history.db"
    async with hub_process(database) as hub:
        client = await Client().connect(hub.url)
        await client.call("subscribe", {"all": True})
        await client.wait_for(is_("data"), count=50, within=10)
        hub.process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(hub.process.wait(), 20) == 0
        last_seen = max(m["seq"] for m in client.received)
        await client.close()
    async with hub_process(database) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        logged = (await http.get("/historical-data", params={"order": "desc", "limit": 10000})).json()[
            "items"
        ]
        assert {m["seq"] for m in client.received} <= {m["seq"] for m in logged}  # nothing streamed was lost
        client = await Client().connect(hub.url)
        await client.call("subscribe", {"all": True})
        fresh = await client.wait_for(lambda m: m["type"] == "data" and m["seq"] > last_seen, within=10)
        assert fresh[0]["seq"] > last_seen
        await client.close()


async def test_kill_9_loses_at_most_the_flush_interval(tmp_path: Path) -> None:
    """After kill -9 the log opens, holds what was streamed up to the last flush, and seq is never reused."""
    database = tmp_path / "history.db"
    async with hub_process(database) as hub:
        client = await Client().connect(hub.url)
        await client.call("subscribe", {"all": True})
        await client.wait_for(is_("data"), count=100, within=10)
        hub.process.send_signal(signal.SIGKILL)
        await hub.process.wait()
        seen = list(client.received)
        await client.close()
    async with hub_process(database) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        logged = (await http.get("/historical-data", params={"limit": 10000})).json()["items"]
        logged_seqs = {m["seq"] for m in logged}
        lost = [m for m in seen if m["seq"] not in logged_seqs]
        if lost:  # only the tail can be missing, and only what was produced in the last flush interval
            first_lost = min(m["seq"] for m in lost)
            assert all(m["seq"] not in logged_seqs for m in seen if m["seq"] >= first_lost)
            newest = datetime.fromisoformat(seen[-1]["timestamp"]).timestamp()
            oldest_lost = min(datetime.fromisoformat(m["timestamp"]).timestamp() for m in lost)
            assert (
                newest - oldest_lost <= 0.5
            )  # flush interval 0.1 s, plus scheduling slack on a busy machine
        client = await Client().connect(hub.url)
        await client.call("subscribe", {"all": True})
        [fresh] = await client.wait_for(is_("data"), within=10)
        fresh_live = await client.wait_for(lambda m: m["seq"] > fresh["seq"], within=10)
        assert fresh_live[0]["seq"] > max(m["seq"] for m in seen)
        await client.close()
