"""The Socket.IO layer: every event gets an ack, bad input never breaks a connection or the hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import socketio
import websockets

from hub.app import create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import Client, eventually, is_, raw_client, serve

MALFORMED: list[Any] = [
    None,
    42,
    "voltage",
    ["voltage"],
    True,
    {"ids": "voltage"},
    {"ids": [1, 2]},
    {"ids": [None]},
    {"ids": [""]},
    {"ids": ["voltage"] * 1001},
    {"groups": {"power": 1}},
    {"all": "yes"},
    {"all": 1},
    {"id": ["voltage"]},
    {"ids": [["voltage"]]},
    {"ids": ["x" * 129]},
]


@pytest.mark.parametrize("event", ["subscribe", "unsubscribe", "command"])
async def test_malformed_payloads_get_bad_request(running: RunningHub, event: str) -> None:
    """Payloads of many wrong shapes each get ok: false with bad_request, on a connection that stays up."""
    client = await running.client()
    for payload in MALFORMED:
        ack = await client.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", (payload, ack)
        assert ack["error"]["message"]
    assert client.sio.connected
    assert (await client.call("subscribe", {"ids": ["voltage"]}))["ok"] is True


async def test_no_payload_and_several_payloads_get_bad_request(running: RunningHub) -> None:
    """An event sent with no argument, or with two, is answered too."""
    client = await running.client()
    assert (await client.sio.call("subscribe", timeout=5))["error"]["code"] == "bad_request"
    assert (await client.sio.call("command", ({"command": "x"}, 2), timeout=5))["error"][
        "code"
    ] == "bad_request"


async def test_unknown_event_gets_unknown_event(running: RunningHub) -> None:
    """An event the hub does not handle gets an ack naming it."""
    client = await running.client()
    ack = await client.call("launch_rocket", {"now": True})
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"
    assert ack["error"]["details"] == {"event": "launch_rocket"}


async def test_other_clients_keep_streaming_during_abuse(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """While one client sends garbage, another keeps receiving every value in order."""
    watcher, abuser = await running.client(), await running.client()
    await watcher.call("subscribe", {"ids": ["counter"]})

    async def abuse() -> None:
        for payload in MALFORMED * 3:
            await abuser.call("subscribe", payload)
            await abuser.call("command", payload)

    async def produce() -> None:
        for i in range(200):
            running.source.emit("counter", i, clock())
            await asyncio.sleep(0)

    await asyncio.gather(abuse(), produce())
    received = await watcher.wait_for(is_("data", id="counter"), count=200)
    assert [m["value"] for m in received] == list(range(200))


async def test_connections_past_max_clients_are_refused(source: FakeSource) -> None:
    """Past HUB_MAX_CLIENTS a connection gets connect_error with a message and a code; others stay."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", max_clients=2)
    async with serve(create_app(settings, source=source, history=MemoryHistory())) as url:
        first, second = await Client().connect(url), await Client().connect(url)
        refused = Client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(url)
        await refused.close()
        assert refused.connect_errors == [
            {"message": "the hub is full (2 clients); try again later", "data": {"code": "too_many_clients"}}
        ]
        assert first.sio.connected and second.sio.connected
        await second.close()
        again = await Client().connect(url)  # a freed place can be taken
        assert (await again.call("subscribe", {"ids": ["voltage"]}))["ok"] is True
        for client in (first, again):
            await client.close()


async def test_cors_refuses_other_origins(running: RunningHub) -> None:
    """A browser connection from an origin not in HUB_CORS_ORIGINS is refused."""
    refused = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(running.url, headers={"Origin": "http://evil.example"})
    await refused.close()
    ok = await running.client(headers={"Origin": "http://localhost:4200"})
    assert ok.sio.connected


@pytest.mark.parametrize("event", ["connect", "disconnect"])
async def test_reserved_event_names_sent_by_a_client_are_refused(running: RunningHub, event: str) -> None:
    """A client emitting 'connect' or 'disconnect' gets unknown_event and stays counted and subscribed."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage"]})
    for payload in (None, {"x": 1}, "text"):
        ack = (
            await client.call(event, payload)
            if payload is not None
            else await client.sio.call(event, timeout=5)
        )
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"
    assert client.sio.get_sid() in running.hub.clients
    assert (await client.call("subscribe", {"ids": []}))["subscribed"] == ["voltage"]


async def test_a_dead_client_never_stalls_the_others(source: FakeSource, clock: Callable[[], float]) -> None:
    """A client that stops reading and answering pings is dropped; the others keep streaming meanwhile.

    The disconnect is found while sending to that client, inside the fan-out: its handling must not wait on
    the fan-out (that froze every client)."""
    # a ping timeout well above a garbage collection of the whole test process, which the healthy client
    # (in this same event loop) must not be dropped for
    settings = Settings(
        templates_dir=TEST_TEMPLATES, history_url="memory://", ping_interval_s=0.2, ping_timeout_s=1.0
    )
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        await source.started.wait()
        healthy = await Client().connect(url)
        await healthy.call("subscribe", {"all": True})
        dead = await raw_client(url, subscribe='{"all":true}')  # and it never reads or answers again

        async def produce() -> None:
            for i in range(400):
                source.emit("counter", i, clock())
                source.emit("label", "x" * 2000, clock())  # fills the dead client's buffers
                with contextlib.suppress(websockets.ConnectionClosed):
                    await dead.send('42["subscribe",{"ids":[]}]')  # still talking, never reading
                await asyncio.sleep(0.005)

        producer = asyncio.create_task(produce())
        await eventually(lambda: len(app.hub.clients) == 1)
        await producer
        assert healthy.sio.connected, "the healthy client was dropped"
        received = await healthy.wait_for(is_("data", id="counter"), count=400)
        assert [m["value"] for m in received] == list(range(400))
        assert (await healthy.call("subscribe", {"ids": ["voltage"]}))["ok"] is True
        await healthy.close()
        dead.transport.abort()  # a dead peer does not say goodbye


async def test_cors_refuses_polling_from_other_origins(running: RunningHub) -> None:
    """A long-polling handshake from an origin not in HUB_CORS_ORIGINS is refused; an allowed one works."""
    path = "/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(base_url=running.url) as http:
        refused = await http.get(path, headers={"Origin": "http://evil.example"})
        allowed = await http.get(path, headers={"Origin": "http://localhost:4200"})
    assert refused.status_code == 400
    assert (
        allowed.status_code == 200
        and allowed.headers["access-control-allow-origin"] == "http://localhost:4200"
    )
