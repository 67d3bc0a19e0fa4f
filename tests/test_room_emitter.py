"""The fast emit path relies on python-socketio/engineio internals: these tests fail loudly if they move."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import socketio
from socketio import packet

from hub import codec
from hub.app import create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from hub.transport.room_emitter import event_frame
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import eventually, is_, serve, shed_a_stalled_client


def test_frames_are_what_python_socketio_itself_would_send() -> None:
    """Our concatenated EVENT frame equals the library's own encoding of the same message."""
    message = {"type": "data", "id": "voltage", "value": 28.5, "timestamp": "2026-01-01T00:00:00.000000Z",
               "seq": 7, "text": "ünïcode \"quoted\""}  # fmt: skip
    library = packet.Packet(packet.EVENT, data=["data", message]).encode()
    ours = event_frame("data", codec.dumps(message))
    assert ours[0] == library[0] == "2"  # EVENT, default namespace, no ack id
    assert json.loads(ours[1:]) == json.loads(library[1:]) == ["data", message]  # (escaping may differ)


async def test_engineio_sockets_have_what_the_emitter_uses(running: RunningHub) -> None:
    """A connected client's Engine.IO socket has the queue, send and closed the emitter relies on."""
    client = await running.client()
    sio: socketio.AsyncServer = running.hub.transport.sio  # type: ignore[attr-defined]
    [(sid, eio_sid)] = list(sio.manager.get_participants("/", None))
    socket = sio.eio.sockets[eio_sid]
    assert isinstance(socket.queue, asyncio.Queue) and socket.closed is False
    assert asyncio.iscoroutinefunction(socket.send) and asyncio.iscoroutinefunction(socket.close)
    assert sid == client.sio.get_sid()


async def test_a_stalled_client_is_disconnected_and_the_others_get_everything(
    source: FakeSource, clock: Callable[[], float]
) -> None:
    """A client that stops reading is dropped past HUB_CLIENT_QUEUE_LIMIT and reported; the others get all."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", client_queue_limit=200)
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        await source.started.wait()
        healthy, notice, produced, stalled = await shed_a_stalled_client(url, source, clock)
        assert notice["details"]["backlog"] >= 200
        received = await healthy.wait_for(is_("data", id="label"), count=produced, within=30)
        assert [int(m["value"].split(":")[0]) for m in received] == list(range(produced))
        await eventually(lambda: len(app.hub.clients) == 1)
        assert app.hub.health().slow_clients_disconnected == 1
        await healthy.close()
        stalled.transport.abort()
