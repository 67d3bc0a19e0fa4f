"""The HTTP API (FastAPI): health, templates, and the history log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from hub import contract
from hub.auth import ANONYMOUS, Authenticator, Principal, Role
from hub.core import Hub
from hub.history import Query as HistoryQuery
from hub.history import cursor
from hub.messages import EPOCH, Confirmation, DataMessage, MessageType, Notification
from hub.settings import Settings
from hub.templates import CommandTemplate, TelemetryType
from hub.web import charts
from hub.web.charts import AggregatePage, Strategy
from hub.web.problems import ParameterError, Problem, Refused

MESSAGE_TYPES: tuple[MessageType, ...] = ("data", "confirmation", "notification")
MAX_LIMIT = 10_000
MAX_SEQ = 2**63 - 1
BEARER = HTTPBearer(auto_error=False)
T = TypeVar("T")


class HistoryPage(BaseModel):
    items: list[DataMessage | Confirmation | Notification]
    next: str | None


class Deleted(BaseModel):
    deleted: int


def create_http_app(
    hub: Hub,
    settings: Settings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    authenticator: Authenticator,
) -> FastAPI:
    app = FastAPI(title="Telemetry hub", version="0.1.0", lifespan=lifespan)
    viewer = Depends(_requires("viewer", authenticator))
    admin = Depends(_requires("admin", authenticator))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "DELETE"],
        allow_headers=["Authorization"],
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {"parameter": str(e["loc"][-1]), "in": str(e["loc"][0]), "message": e["msg"]}
            for e in error.errors()
        ]
        message = "; ".join(f"{p['parameter']}: {p['message']}" for p in problems)
        return JSONResponse({"message": message, "detail": problems}, status_code=422)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        body: dict[str, Any] = {"message": str(error)}
        if error.detail is not None:
            body["detail"] = error.detail
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    @app.get("/health", summary="Hub status: ok, or degraded with a reason")
    async def health() -> dict[str, Any]:
        return hub.health()

    @app.get(
        "/asyncapi.json",
        summary="The Socket.IO contract as an AsyncAPI 3 document (events, payloads, acks)",
        response_description="AsyncAPI 3.0.0; its server is this hub as the request reached it",
    )
    async def asyncapi_document(request: Request) -> dict[str, Any]:
        return contract.asyncapi(host=request.url.netloc)

    @app.get(
        "/metrics",
        summary="Prometheus metrics (text format; OpenMetrics if the Accept header asks for it)",
        response_class=Response,
        responses={200: {"description": "The metrics", "content": METRICS_CONTENT}, **UNAUTHORIZED},
        dependencies=[viewer],
    )
    async def metrics(request: Request) -> Response:
        body, content_type = hub.metrics.exposition(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    @app.get(
        "/telemetry-types",
        summary="Telemetry type definitions",
        dependencies=[viewer],
        responses=UNAUTHORIZED,
    )
    async def telemetry_types() -> list[TelemetryType]:
        return list(hub.catalog.templates.telemetry_types)

    @app.get(
        "/command-templates",
        summary="Command templates with their parameters",
        dependencies=[viewer],
        responses=UNAUTHORIZED,
    )
    async def command_templates() -> list[CommandTemplate]:
        return list(hub.catalog.templates.command_templates)

    @app.get(
        "/historical-data",
        summary="Logged messages, exactly as streamed, one page at a time; or aggregated for charts",
        description=charts.DESCRIPTION,
        response_class=Response,
        responses={
            200: {
                "model": HistoryPage | AggregatePage,
                "description": "A page of messages (AggregatePage with interval or buckets)",
            },
            **UNAUTHORIZED,
            **INVALID,
            **UNAVAILABLE,
        },
        dependencies=[viewer],
    )
    async def historical_data(
        request: Request,
        ids: Annotated[str | None, Query(description="Comma-separated telemetry ids.")] = None,
        type: Annotated[
            str | None, Query(description="data, confirmation or notification (comma list).")
        ] = None,
        start: Annotated[datetime | None, Query(description="ISO 8601, inclusive; UTC if no zone.")] = None,
        end: Annotated[datetime | None, Query(description="ISO 8601, exclusive; UTC if no zone.")] = None,
        after_seq: Annotated[
            int | None, Query(ge=0, le=MAX_SEQ, description="Only messages with a larger seq.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
        order: Annotated[Literal["asc", "desc"], Query(description="By seq.")] = "asc",
        cursor_: Annotated[
            str | None, Query(alias="cursor", description="`next` of the previous page.")
        ] = None,
        interval: Annotated[
            str | None, Query(description="Bucket length: a whole number of ms, s, m, h or d (10s, 1m).")
        ] = None,
        buckets: Annotated[
            int | None, Query(description="Number of equal buckets over [start, end) (both needed).")
        ] = None,
        agg: Annotated[
            list[str] | None,
            Query(description="min, max, avg, count, first, last (repeated or comma-separated)."),
        ] = None,
        strategy: Annotated[
            Strategy | None, Query(description="latest: the newest `size` points; minmax: see above.")
        ] = None,
        size: Annotated[int | None, Query(description="Points per id for a strategy (1 to 10000).")] = None,
    ) -> Response:
        id_list = _ids(ids, hub)
        types = _types(type)
        start_us, end_us = _micros(start), _micros(end)
        if start_us is not None and end_us is not None and end_us <= start_us:
            raise ParameterError("end", "must be later than start")
        chart = charts.plan(interval, buckets, agg, strategy, size, start_us, end_us)
        if chart is not None:
            for name in ("after_seq", "cursor", "limit", "order"):
                if name in request.query_params:
                    raise ParameterError(name, "does not apply with interval, buckets or strategy")
            if id_list is None:
                raise ParameterError("ids", "name the telemetry ids to aggregate or downsample")
            if types not in (None, ("data",)):
                raise ParameterError("type", "aggregates and strategies are computed over data only")
            answer = await _reading(charts.answer(hub.history, hub.catalog.types, chart, id_list))
            return Response(answer, media_type="application/json")
        filters = cursor.fingerprint(id_list, types, start_us, end_us, after_seq, order)
        query = HistoryQuery(
            ids=id_list,
            types=types,
            start_us=start_us,
            end_us=end_us,
            after_seq=after_seq,
            order=order,
            limit=limit + 1,
        )
        if cursor_ is not None:
            try:
                position = cursor.decode(cursor_, filters)
            except ValueError as error:
                raise ParameterError("cursor", str(error)) from None
            if order == "asc":
                query = replace(query, after_seq=max(position, after_seq or 0))
            else:
                query = replace(query, before_seq=position)
        records = await _reading(hub.history.query(query))
        page = records[:limit]
        next_cursor = cursor.encode(page[-1].seq, filters) if len(records) > limit else None
        return Response(cursor.page(page, next_cursor), media_type="application/json")

    @app.delete(
        "/historical-data",
        summary="Delete logged messages (all, or those before a time); needs an admin token",
        responses={**UNAUTHORIZED, **INVALID, **UNAVAILABLE},
        dependencies=[admin],
    )
    async def clear_history(
        before: Annotated[datetime | None, Query(description="ISO 8601; delete only older messages.")] = None,
    ) -> Deleted:
        try:
            deleted = await hub.history.delete(_micros(before))
        except Exception as error:
            raise Refused(503, f"the history log cannot be changed now: {error}; try again later") from error
        return Deleted(deleted=deleted)

    return app


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or one the hub does not know"},
    403: {
        "model": Problem,
        "description": "The token's role is not enough (or no admin token exists, for DELETE)",
    },
}
METRICS_CONTENT = {
    media_type: {"schema": {"type": "string"}}
    for media_type in ("text/plain", "application/openmetrics-text")
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "A parameter is invalid; the message names it"},
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "The history log cannot be used right now; the message says why"},
}


def _requires(role: Role, authenticator: Authenticator) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets a request through only with a token of `role` or above."""

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> Principal:
        if role == "admin" and not authenticator.has_admin:
            raise Refused(
                403, "clearing history is disabled; set HUB_ADMIN_TOKEN or give a token the admin role"
            )
        token = credentials.credentials if credentials else None
        principal = authenticator.authenticate(token)
        if principal is None or (principal is ANONYMOUS and not principal.may(role)):
            raise Refused(
                401, "send a valid token as 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        if not principal.may(role):
            raise Refused(403, f"this needs the {role} role; {principal.name} is a {principal.role}")
        return principal

    return check


async def _reading(read: Awaitable[T]) -> T:
    """The result of reading the history log; a log that cannot be read is a 503 saying to try again."""
    try:
        return await read
    except Refused:  # a parameter found wrong while answering (a chart's non-numeric id)
        raise
    except Exception as error:
        raise Refused(503, f"the history log cannot be read now: {error}; try again later") from error


def _ids(ids: str | None, hub: Hub) -> tuple[str, ...] | None:
    if ids is None:
        return None
    wanted = tuple(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
    if not wanted:
        raise ParameterError("ids", "give at least one telemetry id, or leave the parameter out")
    unknown = [i for i in wanted if i not in hub.catalog.types]
    if unknown:
        raise ParameterError("ids", f"unknown telemetry types {unknown}")
    return wanted


def _types(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    types = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    wrong = [t for t in types if t not in MESSAGE_TYPES]
    if wrong or not types:
        raise ParameterError("type", f"{wrong or value!r} is not one of {', '.join(MESSAGE_TYPES)}")
    return types


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)
