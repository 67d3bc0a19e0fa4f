"""The HTTP application (FastAPI): the routers of each area, assembled once.

- `operations`: `/health`, `/metrics`;
- `catalog`: `/telemetry-types`, `/command-templates`, `/asyncapi.json`;
- `history`: `GET` and `DELETE /historical-data` (with `charts`).

Routes reach the hub, its metrics and the authenticator through the application's state
(hub/web/dependencies.py); every refusal is a `HubError` answered in one place (hub/web/problems.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from hub.auth import Authenticator
from hub.core import Hub
from hub.metrics import HubMetrics
from hub.settings import Settings
from hub.web import catalog, history, operations, problems


def create_http_app(
    hub: Hub,
    metrics: HubMetrics,
    settings: Settings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    authenticator: Authenticator,
) -> FastAPI:
    """The FastAPI application serving `hub` over HTTP, its lifespan the hub's."""
    app = FastAPI(title="Telemetry hub", version="0.1.0", lifespan=lifespan)
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.authenticator = authenticator
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "DELETE"],
        allow_headers=["Authorization"],
    )
    problems.install(app)
    app.include_router(operations.router)
    app.include_router(catalog.router)
    app.include_router(history.router)
    return app
