"""hub/transport/websocket_protocol.py: prepared frames, one write per client per loop turn, on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest
import uvicorn
import websockets
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from hub.app import create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from hub.transport.websocket_protocol import HubWebSocketProtocol, PreparedText, max_size, text_frame
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import Client, is_, raw_client, serve


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_frames_are_what_websockets_itself_would_send(size: int) -> None:
    """Each length encoding of RFC 6455 (7 bits, 16 bits, 64 bits) at its edges."""
    payload = ("é" * size).encode()[:size]
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_a_prepared_text_is_the_text_and_carries_its_frame() -> None:
    """A PreparedText is a str equal to its text, and carries that text's WebSocket frame."""
    prepared = PreparedText('42["data",{"v":"ü"}]')
    assert prepared == '42["data",{"v":"ü"}]' and isinstance(prepared, str)
    assert prepared.frame == text_frame('42["data",{"v":"ü"}]'.encode())


async def test_the_protocol_has_what_the_hub_uses(settings: Settings) -> None:
    """The attributes of uvicorn's protocol that HubWebSocketProtocol reads and writes."""
    config = uvicorn.Config(create_app(settings, source=FakeSource()), ws=HubWebSocketProtocol)
    config.load()
    protocol = HubWebSocketProtocol(config=config, server_state=ServerState(), app_state={})
    assert isinstance(protocol.conn, ServerProtocol) and protocol.conn.state is State.CONNECTING
    assert isinstance(protocol.writable, asyncio.Event) and protocol.writable.is_set()
    assert protocol.disconnected is False and protocol.handshake_complete is False
    assert protocol.close_sent is False and protocol.initial_response is None
    assert protocol.conn.extensions == [] and protocol.collected == []


async def test_a_burst_arrives_whole_and_in_order(running: RunningHub, clock: Callable[[], float]) -> None:
    """Messages produced in one loop turn leave in one write: every frame must still arrive intact, in
    order, small and large ones mixed (a frame over 64 KiB uses the 64-bit length)."""
    raw = await raw_client(running.url, subscribe='{"ids":["label"]}')
    values = [f"{n}:" + "x" * (n * 7_919 % 90_000) for n in range(60)]
    for value in values:
        running.source.emit("label", value, clock())
    received: list[str] = []
    while len(received) < len(values):
        frame = str(await asyncio.wait_for(raw.recv(), 5))
        if frame.startswith('42["data"'):
            received.append(frame)
    assert [frame.split('"value":"')[1].split('"')[0] for frame in received] == values
    await raw.close()


async def test_with_per_message_deflate_frames_go_through_uvicorn(
    source: FakeSource, clock: Callable[[], float]
) -> None:
    """HUB_WS_DEFLATE=true: frames are compressed per connection, so the shared frames are not used."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", ws_deflate=True)
    async with serve(create_app(settings, source=source, history=MemoryHistory())) as url:
        await source.started.wait()
        client = await Client().connect(url)
        await client.call("subscribe", {"ids": ["label"]})
        for n in range(20):
            source.emit("label", f"{n}:" + "y" * 5_000, clock())
        received = await client.wait_for(is_("data", id="label"), count=20)
        assert [m["value"].split(":")[0] for m in received] == [str(n) for n in range(20)]
        raw = await raw_client(url)  # the websockets client offers permessage-deflate
        assert raw.protocol.extensions, "the hub did not negotiate per-message deflate"
        await raw.close()
        await client.close()


async def test_data_queued_before_a_close_arrives_before_it(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """The hub closes a connection (shutdown, shedding) right after queuing messages: they come first."""
    raw = await raw_client(running.url, subscribe='{"ids":["label"]}')
    witness = await running.client()
    await witness.call("subscribe", {"ids": ["label"]})
    for n in range(10):
        running.source.emit("label", str(n), clock())
    await witness.wait_for(is_("data", id="label"), count=10)  # delivered to both in the same pass
    await running.hub.transport.sio.eio.disconnect()  # type: ignore[attr-defined]  # every client
    frames = [str(frame) async for frame in raw]  # until the close frame
    data = [frame for frame in frames if frame.startswith('42["data"')]
    assert len(data) == 10 and frames[-1] == "1"  # Engine.IO CLOSE last


LIMIT = 10_000
"""HUB_MAX_MESSAGE_BYTES of the size tests."""


@pytest.mark.parametrize("settings", [{"max_message_bytes": LIMIT}], indirect=True)
@pytest.mark.parametrize("size", [LIMIT + 1, max_size(LIMIT)], ids=["just-over", "largest-read"])
async def test_a_message_over_the_limit_is_refused_by_the_guard_with_its_reason(
    running: RunningHub, caplog: pytest.LogCaptureFixture, size: int
) -> None:
    """A message over HUB_MAX_MESSAGE_BYTES that uvicorn still reads is closed by the hub's guard with 1009
    and a reason naming the limit, and logged."""
    raw = await raw_client(running.url)
    await raw.send("4" + "x" * (size - 1))
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        await asyncio.wait_for(raw.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert closed.value.rcvd.reason == f"message of {size} bytes is over the limit of {LIMIT} bytes"
    assert any(
        "HUB_MAX_MESSAGE_BYTES" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )


@pytest.mark.parametrize("settings", [{"max_message_bytes": LIMIT}], indirect=True)
async def test_a_message_past_what_uvicorn_reads_is_refused_before_it_ends(
    running: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """A message larger than `max_size` is refused (1009, logged) from its first fragment, while its end is
    still to come: uvicorn does not read it first (up to 16 MiB, as its default would)."""
    raw = await raw_client(running.url)
    never = asyncio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "4" + "x" * max_size(LIMIT)
        await never.wait()  # the end of the message is never sent
        yield "x"

    sending = asyncio.create_task(raw.send(fragments()))
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        await asyncio.wait_for(raw.recv(), 5)
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
        await sending
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert f"exceeds limit of {max_size(LIMIT)} bytes" in closed.value.rcvd.reason
    assert any(
        "HUB_MAX_MESSAGE_BYTES" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )
