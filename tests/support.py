"""Test support: a real uvicorn server on a free port, and a recording Socket.IO client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import socketio
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from hub.history import HistoryLog, Record, open_backend
from hub.history.compact import payload
from hub.templates import Value
from hub.transport.websocket_protocol import websocket_options

Message = dict[str, Any]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: Any, port: int = 0) -> AsyncIterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 (a free port unless one is given); yield its base URL; shut it
    down cleanly."""
    # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off only for sockets that say so, and with it
    # on, small replies on a kept-alive connection wait 40 ms
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, lifespan="on", log_level="warning", **websocket_options(app.settings))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # uvicorn offers no event for this; fail fast if start-up failed
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Client:
    """A python-socketio client that records every message the hub sends it."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[Message] = []
        self._changed = asyncio.Condition()
        self.connect_errors: list[Any] = []
        for event in ("data", "confirmation", "notification"):
            self.sio.on(event, self._record)
        self.sio.on("connect_error", self.connect_errors.append)

    async def _record(self, message: Message) -> None:
        async with self._changed:
            self.received.append(message)
            self._changed.notify_all()

    async def connect(self, url: str, **kwargs: Any) -> Client:
        await self.sio.connect(url, transports=["websocket"], **kwargs)
        return self

    async def call(self, event: str, *payload: Any, within: float = 5) -> Any:
        """Emit with an ack and return the ack."""
        data: Any = payload[0] if len(payload) == 1 else payload if payload else None
        return await self.sio.call(event, data, timeout=within)

    async def wait_for(
        self, predicate: Callable[[Message], bool], count: int = 1, within: float = 5
    ) -> list[Message]:
        """The first `count` received messages matching `predicate`, waiting for them to arrive."""

        def found() -> list[Message]:
            return [m for m in self.received if predicate(m)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count), within)
            return found()[:count]

    def of(self, type: str, **fields: Any) -> list[Message]:
        return [
            m for m in self.received if m["type"] == type and all(m.get(k) == v for k, v in fields.items())
        ]

    async def close(self) -> None:
        await self.sio.disconnect()


def is_(type: str, **fields: Any) -> Callable[[Message], bool]:
    """A predicate for `Client.wait_for`: a message of `type` whose `fields` have the given values."""
    return lambda m: m["type"] == type and all(m.get(k) == v for k, v in fields.items())


async def eventually(condition: Callable[[], bool], within: float = 5) -> None:
    """Wait until `condition` holds, for state the server changes without telling any client (such as its
    handling of a disconnect); prefer awaiting a message wherever one exists."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (no event exists for this state)
            await asyncio.sleep(0.01)


async def raw_client(url: str, subscribe: str | None = None, **options: Any) -> ClientConnection:
    """A bare Engine.IO websocket connected to the default namespace, for clients no socket.io library would
    be (one that never reads, one that sends too much). With `subscribe` (a JSON payload) it subscribes and
    waits for the ack. It answers nothing by itself, pings included."""
    ws = await websockets.connect(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", **options
    )
    assert str(await ws.recv()).startswith("0")  # Engine.IO open
    await ws.send("40")
    assert str(await ws.recv()).startswith("40")  # Socket.IO connect
    if subscribe is not None:
        await ws.send(f'420["subscribe",{subscribe}]')
        assert str(await ws.recv()).startswith("430")  # the ack
    return ws


ROOT = Path(__file__).parent.parent


class HubProcess:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.log: list[str] = []
        self._logged = asyncio.Condition()
        self._ended = False

    async def collect(self, stream: asyncio.StreamReader) -> None:
        """Append each line of `stream` to the log as it comes, until the process closes it."""
        async for line in stream:
            async with self._logged:
                self.log.append(line.decode())
                self._logged.notify_all()
        async with self._logged:
            self._ended = True
            self._logged.notify_all()

    async def logged(self, text: str, after: int = 0, within: float = 10) -> str:
        """The first log line from index `after` on that contains `text`, waiting for it to be written;
        fails at once if the process ends without writing it."""

        def found() -> str | None:
            return next((line for line in self.log[after:] if text in line), None)

        async with self._logged:
            await asyncio.wait_for(self._logged.wait_for(lambda: self._ended or found()), within)
        line = found()
        assert line is not None, f"the hub ended without logging {text!r}:\n" + "".join(self.log)
        return line


@asynccontextmanager
async def main_process(
    flags: list[str], env: dict[str, str] | None = None, port: int | None = None
) -> AsyncIterator[HubProcess]:
    """`python main.py` with `flags` and `env` (added to this environment) on `port` (default: a free
    one); yield once it serves; kill it if it is still running at the end. Its log lines are collected."""
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "--port", str(port), *flags,
        cwd=ROOT, env=os.environ | (env or {}), stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    hub = HubProcess(process, f"http://127.0.0.1:{port}")
    assert process.stderr is not None
    while not any("Uvicorn running on" in line for line in hub.log):
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        if not line:
            raise RuntimeError("the hub exited during start-up:\n" + "".join(hub.log))
        hub.log.append(line.decode())
    drain = asyncio.create_task(hub.collect(process.stderr))
    try:
        yield hub
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await drain


async def shed_a_stalled_client(
    url: str, source: Any, clock: Callable[[], float]
) -> tuple[Client, Message, int, ClientConnection]:
    """A healthy client and one that subscribes and never reads again, both on the id `label` of the fake
    source; produce large values until the hub sheds the stalled one (HUB_CLIENT_QUEUE_LIMIT). Returns the
    healthy client, its `client_too_slow` notification, how many values were produced, and the stalled
    websocket (for the caller to abort)."""
    healthy = await Client().connect(url)
    await healthy.call("subscribe", {"ids": ["label"]})
    stalled = await raw_client(url, subscribe='{"ids":["label"]}')  # and then it never reads again
    big = "x" * 20_000
    produced = 0
    while not healthy.of("notification", code="client_too_slow"):  # until the socket buffers are full
        assert produced < 5000, "the stalled client was never disconnected"
        source.emit("label", f"{produced}:{big}", clock())
        produced += 1
        await asyncio.sleep(0.001)  # the healthy client reads in this same event loop
    [notice] = healthy.of("notification", code="client_too_slow")
    return healthy, notice, produced, stalled


@asynccontextmanager
async def watched(url: str, source: Any, clock: Callable[[], float]) -> AsyncIterator[list[float]]:
    """A watcher subscribed to `counter` while the source produces a value every 5 ms; on exit, check that
    the watcher received every one of them, in order. Yields the list it fills with each value's latency
    (seconds from production to arrival), for the caller to report."""
    watcher = await Client().connect(url)
    assert (await watcher.call("subscribe", {"ids": ["counter"]}))["ok"] is True
    produced_at: list[float] = []
    latencies: list[float] = []
    values: list[int] = []
    stop = asyncio.Event()
    all_arrived = asyncio.Event()

    async def arrived(message: Message) -> None:
        if message["id"] == "counter":
            values.append(message["value"])
            latencies.append(time.perf_counter() - produced_at[message["value"]])
            if stop.is_set() and len(values) >= len(produced_at):
                all_arrived.set()

    watcher.sio.on("data", arrived)  # (replaces the recording handler: `arrived` records nothing else)

    async def produce() -> None:
        while not stop.is_set():
            produced_at.append(time.perf_counter())
            source.emit("counter", len(produced_at) - 1, clock())
            await asyncio.sleep(0.005)

    producer = asyncio.create_task(produce())
    try:
        yield latencies
    finally:
        stop.set()
        await producer
        if len(values) < len(produced_at):
            await asyncio.wait_for(all_arrived.wait(), 10)
        await watcher.close()
    assert values == list(range(len(produced_at)))
    ordered = sorted(latencies)
    p50, p99 = (ordered[int(len(ordered) * q)] * 1000 for q in (0.5, 0.99))
    print(f"\nthe watcher got all {len(ordered)} values in order; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")


class PollingSession:
    """A bare Engine.IO long-polling session over HTTP, for what no socket.io library would send: several
    packets in one POST, a disconnect together with an event."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=10)
        self.sid = ""

    async def open(self, auth: Any = None) -> PollingSession:
        """Handshake and connect to the default namespace (with `auth`); fails unless connected."""
        response = await self.http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        response.raise_for_status()
        self.sid = json.loads(response.text[1:])["sid"]
        await self.post("40" + ("" if auth is None else json.dumps(auth)))
        [connected] = await self.get()
        assert connected.startswith("40{"), connected
        return self

    async def post(self, *packets: str) -> httpx.Response:
        return await self.http.post(
            "/socket.io/",
            params={"EIO": "4", "transport": "polling", "sid": self.sid},
            content="\x1e".join(packets).encode(),
        )

    async def get(self) -> list[str]:
        """The packets of one long-poll (it waits until there is something)."""
        response = await self.http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": self.sid}
        )
        response.raise_for_status()
        return response.text.split("\x1e")

    async def acks(self, count: int) -> dict[int, Any]:
        """Poll until `count` acks arrived; return them by ack id."""
        acks: dict[int, Any] = {}
        while len(acks) < count:
            for packet in await self.get():
                if packet.startswith("43"):
                    id_end = packet.index("[")
                    acks[int(packet[2:id_end])] = json.loads(packet[id_end:])[0]
        return acks

    async def close(self) -> None:
        await self.http.aclose()


async def write_log(path: Path, points: Sequence[tuple[str, int, Value]]) -> list[dict[str, Any]]:
    """Log data points (id, time in µs, value) in a new SQLite log at `path`, as the hub logs what it
    streams (before a hub is started on it); return their messages."""
    log = HistoryLog(open_backend(f"sqlite:///{path}"))
    await log.open()
    messages = []
    try:
        for telemetry_id, time_us, value in points:
            seq = log.next_seq()
            text = payload(telemetry_id, seq, time_us, value)
            log.append(Record(seq, "data", telemetry_id, time_us, text, value))
            messages.append(json.loads(text))
        await log.flush()
    finally:
        await log.close()
    return messages
