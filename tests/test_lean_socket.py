"""hub/transport/lean_socket.py: the lighter Engine.IO socket, over python-engineio internals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import socketio
from engineio.async_socket import AsyncSocket

from hub.app import HubApp, create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from hub.transport.lean_socket import LeanSocket
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import eventually, is_, raw_client, serve


def sockets(app: HubApp) -> list[AsyncSocket]:
    """The Engine.IO sockets the hub has open."""
    return list(app.sio.eio.sockets.values())


async def test_websocket_and_upgraded_polling_clients_get_lean_sockets(
    source: FakeSource, settings: Settings, clock: Callable[[], float]
) -> None:
    """Browsers start with long-polling and upgrade (ngx-socket-io's default): both paths stream."""
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        await source.started.wait()
        received: dict[str, list[str]] = {"websocket": [], "polling": []}
        clients = []
        for transports, name in ((["websocket"], "websocket"), (["polling", "websocket"], "polling")):
            client = socketio.AsyncClient(reconnection=False)
            got = asyncio.Event()

            def record(
                message: dict[str, str], into: list[str] = received[name], got: asyncio.Event = got
            ) -> None:
                into.append(message["value"])
                got.set() if len(into) == 3 else None

            client.on("data", record)
            await client.connect(url, transports=transports)
            await client.call("subscribe", {"ids": ["label"]})
            clients.append((client, got))
        await eventually(lambda: all(s.upgraded for s in sockets(app)))
        assert [type(s) for s in sockets(app)] == [LeanSocket, LeanSocket]
        for n in range(3):
            source.emit("label", str(n), clock())
        for client, got in clients:
            await asyncio.wait_for(got.wait(), 5)
            assert client.transport() == "websocket"
            await client.disconnect()
        assert received == {"websocket": ["0", "1", "2"], "polling": ["0", "1", "2"]}


async def test_a_connected_client_costs_two_tasks(running: RunningHub) -> None:
    """Its connection's ASGI task (the reader) and its writer; no ping task, no task per read."""
    await running.client()  # the hub's own tasks are all running now
    before = len(asyncio.all_tasks())
    raws = [await raw_client(running.url, ping_interval=None) for _ in range(10)]  # (no keepalive task)
    assert len(asyncio.all_tasks()) - before == 2 * 10
    for raw in raws:
        await raw.close()


async def test_a_client_that_answers_pings_stays_and_one_that_does_not_is_dropped(
    source: FakeSource,
) -> None:
    """The ping timer keeps probing: the client that answers stays; the silent one is dropped, its websocket
    closed. (The timeout is well above a garbage collection of the whole test process.)"""
    settings = Settings(
        templates_dir=TEST_TEMPLATES, history_url="memory://", ping_interval_s=0.1, ping_timeout_s=1.0
    )
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        await source.started.wait()
        answering = socketio.AsyncClient(reconnection=False)  # answers pings, as every socket.io client does
        await answering.connect(url, transports=["websocket"])
        silent = await raw_client(url)
        pings = [str(await asyncio.wait_for(silent.recv(), 5)) for _ in range(1)]
        assert pings == ["2"]  # PING, on the timer
        async with asyncio.timeout(5):  # the ping times out, and the hub closes the websocket
            assert [str(frame) async for frame in silent] == []  # nothing more: no second ping
        assert silent.close_code == 1000
        await eventually(lambda: len(app.hub.clients) == 1)
        assert answering.connected
        await answering.disconnect()


async def test_closing_a_socket_ends_its_connection(running: RunningHub, clock: Callable[[], float]) -> None:
    """A server-side close (shutdown, ping timeout) closes the websocket, not only the Engine.IO socket."""
    raw = await raw_client(running.url, subscribe='{"ids":["label"]}')
    witness = await running.client()
    await witness.call("subscribe", {"ids": ["label"]})
    [(_, eio_sid)] = [p for p in running.hub.transport.sio.manager.get_participants("/", None)  # type: ignore[attr-defined]
                      if p[0] != witness.sio.get_sid()]  # fmt: skip
    await running.hub.transport.sio.eio.disconnect(eio_sid)  # type: ignore[attr-defined]
    assert [str(frame) async for frame in raw][-1] == "1"  # CLOSE, then the websocket's close
    assert raw.close_code == 1000
    running.source.emit("label", "after", clock())
    await witness.wait_for(is_("data", value="after"))  # the other client is unaffected


async def test_the_kept_environ_drops_the_first_requests_body_reader(running: RunningHub) -> None:
    """python-socketio keeps each connection's environ; the body reader in it (a class per request) goes."""
    client = await running.client()
    sio: socketio.AsyncServer = running.hub.transport.sio  # type: ignore[attr-defined]
    [(sid, eio_sid)] = list(sio.manager.get_participants("/", None))
    environ = sio.environ[eio_sid]
    assert "wsgi.input" not in environ and environ["REQUEST_METHOD"] == "GET"
    assert sid == client.sio.get_sid()
