"""What the HTTP routes are given: the hub and its metrics (from the application's state, set once by
`create_http_app`), and the caller's identity, checked against the role a route needs.

Routes declare these as FastAPI dependencies (`hub: CurrentHub`, `dependencies=[VIEWER]`), so a route module
holds no reference to the application that serves it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.auth import ANONYMOUS, Authenticator, Principal, Role
from hub.core import Hub
from hub.errors import ErrorCode, Forbidden, Unauthorized
from hub.metrics import HubMetrics

BEARER = HTTPBearer(auto_error=False)
ACCESS: tuple[ErrorCode, ...] = ("unauthorized", "forbidden")
"""The refusals of a route that needs a role (for its OpenAPI `responses`)."""


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def metrics_of(request: Request) -> HubMetrics:
    metrics: HubMetrics = request.app.state.metrics
    return metrics


CurrentHub = Annotated[Hub, Depends(hub_of)]
Metrics = Annotated[HubMetrics, Depends(metrics_of)]


def requires(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets a request through only with a token of `role` or above."""

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        if role == "admin" and not authenticator.has_admin:
            raise Forbidden(
                "clearing history is disabled; set HUB_ADMIN_TOKEN or give a token the admin role"
            )
        token = credentials.credentials if credentials else None
        principal = authenticator.authenticate(token)
        if principal is None or (principal is ANONYMOUS and not principal.may(role)):
            raise Unauthorized("send a valid token as 'Authorization: Bearer <token>'")
        if not principal.may(role):
            raise Forbidden(f"this needs the {role} role; {principal.name} is a {principal.role}")
        return principal

    return check


VIEWER = Depends(requires("viewer"))
ADMIN = Depends(requires("admin"))
