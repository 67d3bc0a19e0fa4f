"""Hostile or broken clients: oversized messages, subscription churn, connection storms, the Admin UI door."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
import socketio
import websockets
from engineio.async_socket import AsyncSocket

from hub.app import create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from tests.conftest import ADMIN_TOKEN, RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import Client, is_, raw_client, serve


async def test_an_oversized_websocket_message_closes_the_connection_with_a_reason(
    running: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Past HUB_MAX_MESSAGE_BYTES the connection is closed with 1009 and a reason, and the hub logs it."""
    async with await raw_client(running.url, max_size=None) as ws:
        await ws.send('42["subscribe",{"ids":["' + "x" * 1_100_000 + '"]}]')
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert "over the limit of 1000000 bytes" in closed.value.rcvd.reason
    assert any(
        "HUB_MAX_MESSAGE_BYTES" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )
    healthy = await running.client()
    assert (await healthy.call("subscribe", {"ids": ["voltage"]}))["ok"] is True


async def test_an_oversized_polling_post_is_413(running: RunningHub) -> None:
    """A long-polling POST past the limit is refused with 413 and a message."""
    async with httpx.AsyncClient(base_url=running.url) as http:
        response = await http.post("/socket.io/?EIO=4&transport=polling&sid=x", content=b"4" * 1_000_001)
    assert response.status_code == 413 and "over the limit" in response.json()["message"]


@pytest.mark.parametrize("settings", [{"event_burst": 1000}], indirect=True)
async def test_subscription_churn_leaves_no_rooms_behind(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """Hundreds of subscribe/unsubscribe cycles and a disconnect leave no room or subscription behind."""
    client = await running.client()
    sio = running.hub.transport.sio  # type: ignore[attr-defined]
    for _ in range(200):
        await client.call("subscribe", {"all": True})
        await client.call("unsubscribe", {"groups": ["power", "system"]})
    ack = await client.call("unsubscribe", {"all": True})
    assert ack["subscribed"] == []
    sid = client.sio.get_sid()
    assert {r for r in sio.rooms(sid) if r.startswith("telemetry:")} == set()
    await client.call("subscribe", {"all": True})
    await client.close()
    watcher = await running.client()
    await watcher.call("subscribe", {"ids": ["counter"]})
    running.source.emit("counter", 1, clock())
    await watcher.wait_for(is_("data"))
    rooms = sio.manager.rooms["/"]
    assert all(sid not in members for members in rooms.values())
    assert set(running.hub.subscriptions.counts().values()) <= {0, 1}


async def test_a_connection_storm_is_refused_and_existing_clients_keep_streaming(
    source: FakeSource, clock: Callable[[], float]
) -> None:
    """Fifty clients at once past HUB_MAX_CLIENTS=3: the extra ones get connect_error, the others stream."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", max_clients=3)
    async with serve(create_app(settings, source=source, history=MemoryHistory())) as url:
        await source.started.wait()
        existing = await Client().connect(url)
        await existing.call("subscribe", {"ids": ["counter"]})
        storm = [Client() for _ in range(50)]
        results = await asyncio.gather(*(c.connect(url) for c in storm), return_exceptions=True)
        refused = [c for c, r in zip(storm, results, strict=True) if isinstance(r, Exception)]
        assert len(refused) == 48
        assert all(c.connect_errors[0]["data"] == {"code": "too_many_clients"} for c in refused)
        for i in range(20):
            source.emit("counter", i, clock())
        assert [m["value"] for m in await existing.wait_for(is_("data"), count=20)] == list(range(20))
        for client in [existing, *storm]:
            await client.close()


async def admin_login(url: str, password: str) -> bool:
    """Whether the /admin namespace lets the user ops in with `password`."""
    admin = socketio.AsyncClient(reconnection=False)
    try:
        await admin.connect(url, namespaces=["/admin"], auth={"username": "ops", "password": password})
    except socketio.exceptions.ConnectionError:
        return False
    finally:
        await admin.disconnect()
    return True


async def test_the_admin_ui_needs_an_admin_token(source: FakeSource) -> None:
    """With HUB_ADMIN_UI the /admin namespace takes an admin token as password, and nothing else."""
    settings = Settings(
        templates_dir=TEST_TEMPLATES, history_url="memory://", admin_token=ADMIN_TOKEN, admin_ui=True
    )
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        assert await admin_login(url, "wrong") is False
        assert await admin_login(url, ADMIN_TOKEN) is True
        # its packet counters wrap python-engineio's websocket handler, which LeanSocket replaces
        raw = await raw_client(url)
        assert [type(socket) for socket in app.sio.eio.sockets.values()] == [AsyncSocket]
        await raw.close()


async def test_the_admin_ui_is_off_by_default(running: RunningHub) -> None:
    """Without HUB_ADMIN_UI there is no /admin namespace, whatever the password."""
    assert await admin_login(running.url, "anything") is False
