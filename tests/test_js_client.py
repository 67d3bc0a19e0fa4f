"""The hub driven by the JavaScript socket.io-client 4.8 under Node, as ngx-socket-io drives it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.app import create_app
from hub.history import HistoryLog, Query
from hub.history.sqlite import SqliteHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import FakeSource
from tests.support import free_port, serve

JS = Path(__file__).parent / "js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: JS client tests need it"
)


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    """Install the pinned socket.io-client once, if the test command has not already."""
    if not (JS / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)


async def run_client(running: RunningHub, clock: Callable[[], float], *args: str) -> dict[str, Any]:
    """Run client.mjs against the hub while the fake source produces voltage and counter values."""
    process = await asyncio.create_subprocess_exec(
        "node", str(JS / "client.mjs"), running.url, *args, stdout=asyncio.subprocess.PIPE
    )

    async def produce() -> None:
        i = 0
        while True:
            running.source.emit("voltage", 28.0 + i % 5, clock())
            running.source.emit("counter", i, clock())
            running.source.emit("heater_on", True, clock())  # not subscribed: must not arrive
            i += 1
            await asyncio.sleep(0.01)

    producer = asyncio.create_task(produce())
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        producer.cancel()
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(stdout)
    assert "error" not in result, result
    return result


@pytest.mark.parametrize("transport", ["default", "websocket"])
async def test_js_client_subscribes_receives_and_commands(
    running: RunningHub, clock: Callable[[], float], transport: str
) -> None:
    """socket.io-client subscribes to two ids, gets only those, and follows a command to completed."""
    running.source.auto["set_mode"] = ("completed", "mode is now nominal")
    command = {"command": "set_mode", "parameters": {"mode": "nominal"}, "request_id": "js-1"}
    result = await run_client(running, clock, transport, "voltage", "counter", json.dumps(command))
    assert result["transport"] == "websocket"  # the default upgrades from polling
    assert result["subscribeAck"] == {"ok": True, "subscribed": ["counter", "voltage"]}
    assert result["badAck"]["error"]["code"] == "bad_request"
    assert result["unknownAck"]["error"]["code"] == "unknown_event"
    assert {m["id"] for m in result["data"]} == {"voltage", "counter"}
    seqs = [m["seq"] for m in result["data"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ack = result["commandAck"]
    assert ack["ok"] is True and ack["status"] == "accepted" and ack["request_id"] == "js-1"
    mine = [c for c in result["confirmations"] if c["command_id"] == ack["command_id"]]
    assert [c["status"] for c in mine] == ["accepted", "executing", "completed"]
    assert mine[-1]["message"] == "mode is now nominal"


async def test_js_client_resumes_across_a_hub_restart(settings: Settings, tmp_path: Path) -> None:
    """socket.io-client, auth a function, reconnects to a restarted hub and has every seq once, in order."""
    database, port = tmp_path / "history.db", free_port()
    process = await asyncio.create_subprocess_exec(
        "node", str(JS / "resume.mjs"), f"http://127.0.0.1:{port}", "voltage", "counter",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines = process.stdout

    async def next_line() -> dict[str, Any]:
        line: dict[str, Any] = json.loads(await asyncio.wait_for(lines.readline(), 20))
        return line

    async def run(index: int) -> dict[str, Any]:
        """Serve, wait for the client's subscribe, produce 30 values of each id; the last run says stop."""
        source = FakeSource()
        async with serve(create_app(settings, source=source, history=SqliteHistory(database)), port=port):
            await source.started.wait()
            line = await next_line()
            while "subscribed" not in line:  # connect errors while the hub was down
                line = await next_line()
            for i in range(30):
                source.emit("voltage", 28.0, 1_800_000_000 + index * 100 + i / 100)
                source.emit("counter", i, 1_800_000_000 + index * 100 + i / 100 + 0.001)
                await asyncio.sleep(0.002)
            if index == 1:
                source.notify("info", "stop", "end of test")
                line["summary"] = await next_line()
        return line

    try:
        first, second = await run(0), await run(1)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    summary = second["summary"]
    assert "error" not in summary
    assert first["subscribed"] == {"ok": True, "subscribed": ["counter", "voltage"]}
    assert second["subscribed"]["recovered"] is True
    log = HistoryLog(SqliteHistory(database))
    await log.open()
    expected = [
        r.seq for r in await log.query(Query(ids=("voltage", "counter"), types=("data",), limit=10**6))
    ]
    await log.close()
    got = [m["seq"] for m in summary["received"] if m["type"] == "data"]
    assert got == expected and len(expected) == 120
