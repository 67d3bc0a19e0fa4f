"""Hostile packets and sessions through real sockets: attachments, undecodable packets, idle handshakes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import httpx
import pytest
import websockets

from hub.app import create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import PollingSession, raw_client, serve, watched


async def closed_with(ws: websockets.ClientConnection) -> tuple[int, str]:
    """Read until the hub closes `ws`; its close code and reason."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_packet_announcing_too_many_attachments_closes_the_connection(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """A binary event announcing 99,999,999 attachments is refused at once; nothing is buffered."""
    async with watched(running.url, running.source, clock):
        ws = await raw_client(running.url)
        await ws.send('4599999999-["subscribe",{"_placeholder":true,"num":0}]')
        code, reason = await closed_with(ws)
    assert code == 1008 and "99999999 attachments" in reason
    assert running.metrics.client_refusals.labels("too_many_attachments")._value.get() == 1


async def test_attachments_past_the_message_limit_close_the_connection(source: FakeSource) -> None:
    """Attachments are bounded in total by HUB_MAX_MESSAGE_BYTES, not only each frame."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", max_message_bytes=100_000)
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        ws = await raw_client(url)
        await ws.send('4510-["subscribe",{"_placeholder":true,"num":0}]')
        try:
            for _ in range(10):
                await ws.send(b"\x00" * 90_000)
        except websockets.ConnectionClosed:
            pass
        code, reason = await closed_with(ws)
        assert code == 1008 and "more than 100000 bytes" in reason
        assert app.sio._binary_packet == {}


async def test_a_binary_event_within_the_bounds_is_answered(running: RunningHub) -> None:
    """A binary event (one attachment) is decoded and gets its ack like any other."""
    ws = await raw_client(running.url)
    await ws.send('451-7["nonsense",{"_placeholder":true,"num":0}]')
    await ws.send(b"\x01\x02")
    answer = str(await ws.recv())
    assert answer.startswith("437") and "unknown_event" in answer
    await ws.close()


@pytest.mark.parametrize(
    "packet",
    ["42", "42{}", '42"x"', "42[", "4-1[]", "47", '45x-["a"]', '451-["a"]', "44"],
)
async def test_an_undecodable_packet_closes_the_connection_with_a_reason(
    running: RunningHub, packet: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed packet closes the connection with 1008 and a reason, logs no traceback, and no later event
    of the connection is swallowed silently."""
    ws = await raw_client(running.url)
    await ws.send(packet)
    if packet == '451-["a"]':  # a well-formed header: a text frame where its attachment should be
        await ws.send('420["subscribe",{"ids":["counter"]}]')
    code, reason = await closed_with(ws)
    assert code == 1008 and reason.startswith("the client sent")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_a_flood_of_bad_packets_logs_one_line_per_interval(
    running: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Two hundred connections from one address each sending a bare 42 write one log line and no
    traceback; the refusals are all counted."""
    caplog.set_level(logging.INFO)
    for _ in range(200):
        ws = await raw_client(running.url)
        await ws.send("42")
        await closed_with(ws)
    assert running.metrics.client_refusals.labels("bad_packet")._value.get() == 200
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert len([r for r in caplog.records if r.name == "hub.transport.refusals"]) == 1


async def test_a_handshake_that_never_connects_expires(source: FakeSource) -> None:
    """A long-polling session that never connects to the namespace is closed after HUB_HANDSHAKE_TIMEOUT_S;
    one that connected, older than it, is kept."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", handshake_timeout_s=0.3)
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        connected = await PollingSession(url).open()
        opened = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        sid = json.loads(opened.text[1:])["sid"]
        assert sid in app.sio.eio.sockets
        await http.get("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid})  # until closed
        assert sid not in app.sio.eio.sockets
        assert connected.sid in app.sio.eio.sockets
        await connected.close()


async def test_handshakes_past_the_limit_get_503_and_connected_clients_stay(source: FakeSource) -> None:
    """Past HUB_MAX_HANDSHAKES sessions that have not connected, a new handshake gets 503 with a reason."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", max_handshakes=5)
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        client = await PollingSession(url).open()
        handshake = {"EIO": "4", "transport": "polling"}
        assert [(await http.get("/socket.io/", params=handshake)).status_code for _ in range(5)] == [200] * 5
        refused = await http.get("/socket.io/", params=handshake)
        assert refused.status_code == 503 and "HUB_MAX_HANDSHAKES" in refused.json()["message"]
        await client.post('420["subscribe",{"ids":["counter"]}]')
        assert (await client.acks(1))[0]["ok"] is True
        await client.close()


async def test_a_polling_handshake_with_huge_headers_is_431(running: RunningHub) -> None:
    """A long-polling handshake with a 1 MB header is refused with 431 before any session holds it."""
    sockets = running.hub.transport.sio.eio.sockets  # type: ignore[attr-defined]
    sessions = len(sockets)
    async with httpx.AsyncClient(base_url=running.url) as http:
        response = await http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"X-Big": "x" * 1_000_000}
        )
    assert response.status_code == 431 and "HUB_MAX_HEADER_BYTES" in response.json()["message"]
    assert len(sockets) == sessions  # no Engine.IO session was made
