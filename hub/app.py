"""Assembles the hub: Socket.IO server, core, HTTP sub-app, and the one lifespan that owns them all."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import socketio
from fastapi import FastAPI

from hub.auth import Authenticator, TokenSources
from hub.cluster import Cluster
from hub.cluster.redis_bus import RedisBus
from hub.core import Hub
from hub.history import HistoryBackend, HistoryLog, open_backend
from hub.metrics import HubMetrics
from hub.settings import Settings
from hub.sources import create_source
from hub.sources.base import Source
from hub.transport.delivery import SocketIOTransport, create_server
from hub.transport.events import Events
from hub.transport.refusals import RefusalLog
from hub.transport.request_guard import Receive, RequestGuard, Scope, Send
from hub.transport.room_emitter import RedisRoomEmitter, RoomEmitter
from hub.transport.socketio_server import HubSocketIOServer
from hub.web.admin_ui import mount_admin_ui
from hub.web.api import create_http_app

log = logging.getLogger(__name__)

CLIENTS_CLOSE_WITHIN_S = 2.0
"""How long a shutdown waits for disconnected clients to close their connections before the server does."""

RESUME_AFTER_A_GAP = "this process missed part of the leading process's stream; its clients resume it"


class HubApp(socketio.ASGIApp):  # type: ignore[misc]  # python-socketio has no type information
    """The ASGI application, with the hub, its metrics and the first step of its shutdown, which ASGI cannot
    express."""

    def __init__(
        self,
        sio: HubSocketIOServer,
        hub: Hub,
        metrics: HubMetrics,
        http: FastAPI,
        settings: Settings,
        refusals: RefusalLog,
        authenticator: Authenticator,
    ) -> None:
        super().__init__(sio, other_asgi_app=http)
        self.sio = sio
        self.hub = hub
        self.metrics = metrics
        self.settings = settings
        self.authenticator = authenticator
        self._guarded = RequestGuard(
            super().__call__,
            refusals,
            max_message_bytes=settings.max_message_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_handshakes=settings.max_handshakes,
            handshakes_pending=lambda: sio.handshakes_pending,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._guarded(scope, receive, send)

    def reload_tokens(self) -> bool:
        """Read HUB_TOKENS_FILE again (main.py does on SIGHUP); False, logged, if the old tokens stay."""
        return self.authenticator.reload()

    async def disconnect_clients(self, within: float = CLIENTS_CLOSE_WITHIN_S) -> int:
        """Close every client's connection cleanly, after everything already queued for it, and wait (up to
        `within`) until the close has gone out. Returns how many clients were connected.

        Clients reconnect by themselves after such a close (`RoomEmitter.close_connections` says why) and,
        with `auth.since`, resume without a gap once the hub is back. The hub keeps running meanwhile; the
        lifespan's exit stops it.
        """
        emitter: RoomEmitter = self.sio.manager
        return await emitter.close_connections("shutting down", within)


def create_app(
    settings: Settings, source: Source | None = None, history: HistoryBackend | None = None
) -> HubApp:
    """The ASGI application. Tests may pass a source or history backend instead of the configured ones.

    The FastAPI lifespan starts and stops the hub; ASGIApp forwards lifespan events to it only because no
    `on_startup`/`on_shutdown` is given to ASGIApp. A server that can run a step before it closes connections
    (main.OrderlyUvicorn) calls `disconnect_clients` first.
    """

    # first: refused tokens leave nothing behind (no log file created, no source started)
    authenticator = Authenticator(TokenSources.of(settings), settings.admin_token)

    metrics = HubMetrics()
    refusals = RefusalLog(metrics.client_refused)
    sio = create_server(settings, refusals)
    hub = Hub(
        source or create_source(settings),
        HistoryLog(
            history or open_backend(settings.history_url, settings.retention.tiers),
            settings.history_flush_interval_s,
            on_batch=metrics.batch_written,
        ),
        SocketIOTransport(sio),
        max_replay=settings.max_replay,
        max_replays=settings.max_replays,
        on_command_ended=metrics.command_ended,
        shed_clients=sio.manager.shed_clients(),
    )
    Events(sio, hub, settings, authenticator, refusals, metrics)
    metrics.watch(hub.snapshot, sio.manager)

    peers = None
    if settings.redis_url is not None:
        emitter: RedisRoomEmitter = sio.manager
        bus = RedisBus(settings.redis_url, settings.redis_channel, emitter)
        peers = Cluster(bus, hub, hub.history, partial(emitter.close_connections, RESUME_AFTER_A_GAP))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with hub.running(settings.retention, peers):
            app.state.hub = hub
            try:
                yield
            finally:
                await sio.shutdown()
        log.info(
            "stopped: source %s %s, history log flushed and closed at seq %d",
            hub.source.name,
            hub.supervisor.state,
            hub.history.last_seq,
        )

    if settings.admin_ui:
        # production mode by default: development mode reports every connection, room change, received event
        # and ping to /admin (one more emit each). Read-only: rooms changed from the UI would bypass the
        # hub's own subscription sets.
        sio.instrument(auth=authenticator.admin_ui_login, mode=settings.admin_ui_mode, read_only=True)
    http = create_http_app(hub, metrics, settings, lifespan, authenticator)
    mount_admin_ui(http, settings)  # the UI's page at /admin-ui/ (or why it cannot be had)
    return HubApp(sio, hub, metrics, http, settings, refusals, authenticator)
