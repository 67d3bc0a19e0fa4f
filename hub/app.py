"""Assembles the hub: Socket.IO server, core, HTTP sub-app, and the one lifespan that owns them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
from fastapi import FastAPI

from hub.core import Hub
from hub.history import HistoryBackend, HistoryLog, open_backend
from hub.http import create_http_app
from hub.server import SocketIOTransport, create_server, register
from hub.settings import Settings
from hub.source import Source
from hub.sources import create_source


def create_app(
    settings: Settings, source: Source | None = None, history: HistoryBackend | None = None
) -> socketio.ASGIApp:
    """The ASGI application. Tests may pass a source or history backend instead of the configured ones.

    The FastAPI lifespan starts and stops the hub; ASGIApp forwards lifespan events to it only because no
    `on_startup`/`on_shutdown` is given to ASGIApp.
    """
    sio = create_server(settings)
    hub = Hub(
        source or create_source(settings),
        HistoryLog(history or open_backend(settings.history_url), settings.history_flush_interval_s),
        SocketIOTransport(sio),
        max_replay=settings.max_replay,
    )
    register(sio, hub, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with hub.running(settings.history_retention_s):
            app.state.hub = hub
            try:
                yield
            finally:
                await sio.shutdown()

    app: Any = socketio.ASGIApp(sio, other_asgi_app=create_http_app(hub, settings, lifespan))
    app.hub = hub
    return app
