"""Routes of the history log: `GET /historical-data` (a page of messages exactly as streamed, or a chart's
aggregates and downsampled series, hub/web/charts.py) and `DELETE /historical-data`."""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.core import Hub
from hub.errors import HistoryUnavailable, HubError, UnknownTelemetryType
from hub.history import Query as HistoryQuery
from hub.history import cursor
from hub.messages import EPOCH, MESSAGE_TYPES, Confirmation, DataMessage, Notification
from hub.web import charts
from hub.web.charts import AggregatePage, Chart, Strategy
from hub.web.dependencies import ACCESS, ADMIN, VIEWER, CurrentHub
from hub.web.problems import ParameterError, responses

MAX_LIMIT = 10_000
MAX_SEQ = 2**63 - 1
PAGING = ("after_seq", "cursor", "limit", "order")
"""The parameters of a page of messages, which do not apply to a chart."""
T = TypeVar("T")

router = APIRouter()


class HistoryPage(BaseModel):
    items: list[DataMessage | Confirmation | Notification]
    next: str | None


class Deleted(BaseModel):
    deleted: int


class HistoryParameters(BaseModel):
    """The query of `GET /historical-data`: what to read, how to page through it, or the chart to make of
    it. Unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ids: str | None = Field(None, description="Comma-separated telemetry ids.")
    type: str | None = Field(None, description="data, confirmation or notification (comma list).")
    start: datetime | None = Field(None, description="ISO 8601, inclusive; UTC if no zone.")
    end: datetime | None = Field(None, description="ISO 8601, exclusive; UTC if no zone.")
    after_seq: int | None = Field(None, ge=0, le=MAX_SEQ, description="Only messages with a larger seq.")
    limit: int = Field(1000, ge=1, le=MAX_LIMIT)
    order: Literal["asc", "desc"] = Field("asc", description="By seq.")
    cursor: str | None = Field(None, description="`next` of the previous page.")
    interval: str | None = Field(
        None, description="Bucket length: a whole number of ms, s, m, h or d (10s, 1m)."
    )
    buckets: int | None = Field(None, description="Number of equal buckets over [start, end) (both needed).")
    agg: list[str] | None = Field(
        None, description="min, max, avg, count, first, last (repeated or comma-separated)."
    )
    strategy: Strategy | None = Field(
        None, description="latest: the newest `size` points; minmax: see above."
    )
    size: int | None = Field(None, description="Points per id for a strategy (1 to 10000).")

    def telemetry_ids(self, known: Collection[str]) -> tuple[str, ...] | None:
        """The ids asked for, each once, all of them `known`; None for every id."""
        if self.ids is None:
            return None
        wanted = tuple(dict.fromkeys(i.strip() for i in self.ids.split(",") if i.strip()))
        if not wanted:
            raise ParameterError("ids", "give at least one telemetry id, or leave the parameter out")
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise UnknownTelemetryType(f"ids: unknown telemetry types {unknown}", parameter="ids")
        return wanted

    def message_types(self) -> tuple[str, ...] | None:
        """The message types asked for, each once, in the order given; None for every type."""
        if self.type is None:
            return None
        types = tuple(dict.fromkeys(t.strip() for t in self.type.split(",") if t.strip()))
        wrong = [t for t in types if t not in MESSAGE_TYPES]
        if wrong or not types:
            raise ParameterError("type", f"{wrong or self.type!r} is not one of {', '.join(MESSAGE_TYPES)}")
        return types

    def span(self) -> tuple[int | None, int | None]:
        """`start` and `end` in microseconds since the epoch (None where not given); end after start."""
        start_us, end_us = _micros(self.start), _micros(self.end)
        if start_us is not None and end_us is not None and end_us <= start_us:
            raise ParameterError("end", "must be later than start")
        return start_us, end_us

    def chart(self, start_us: int | None, end_us: int | None) -> Chart | None:
        """The chart the chart parameters ask for; None for a page of messages."""
        return charts.plan(self.interval, self.buckets, self.agg, self.strategy, self.size, start_us, end_us)


@router.get(
    "/historical-data",
    summary="Logged messages, exactly as streamed, one page at a time; or aggregated for charts",
    description=charts.DESCRIPTION,
    response_class=Response,
    responses={
        200: {
            "model": HistoryPage | AggregatePage,
            "description": "A page of messages (AggregatePage with interval or buckets)",
        },
        **responses(*ACCESS, "bad_request", "unknown_telemetry_type", "history_unavailable"),
    },
    dependencies=[VIEWER],
)
async def historical_data(parameters: Annotated[HistoryParameters, Query()], hub: CurrentHub) -> Response:
    ids = parameters.telemetry_ids(hub.catalog.types)
    types = parameters.message_types()
    start_us, end_us = parameters.span()
    chart = parameters.chart(start_us, end_us)
    if chart is None:
        selected = HistoryQuery(ids=ids, types=types, start_us=start_us, end_us=end_us)
        body = await _page(hub, parameters, selected)
    else:
        body = await _chart(hub, parameters, chart, ids, types)
    return Response(body, media_type="application/json")


async def _page(hub: Hub, parameters: HistoryParameters, selected: HistoryQuery) -> bytes:
    """One page of the messages `selected`, after the cursor if one is given, with the next cursor."""
    after_seq, order, limit = parameters.after_seq, parameters.order, parameters.limit
    filters = cursor.fingerprint(
        selected.ids, selected.types, selected.start_us, selected.end_us, after_seq, order
    )
    query = replace(selected, after_seq=after_seq, order=order, limit=limit + 1)
    if parameters.cursor is not None:
        try:
            position = cursor.decode(parameters.cursor, filters)
        except ValueError as error:
            raise ParameterError("cursor", str(error)) from None
        if order == "asc":
            query = replace(query, after_seq=max(position, after_seq or 0))
        else:
            query = replace(query, before_seq=position)
    records = await _reading(hub.history.query(query))
    page = records[:limit]
    next_cursor = cursor.encode(page[-1].seq, filters) if len(records) > limit else None
    return cursor.page(page, next_cursor)


async def _chart(
    hub: Hub,
    parameters: HistoryParameters,
    chart: Chart,
    ids: tuple[str, ...] | None,
    types: tuple[str, ...] | None,
) -> bytes:
    """The aggregates or downsampled series `chart` asks for, of the data of `ids`."""
    for name in PAGING:
        if name in parameters.model_fields_set:
            raise ParameterError(name, "does not apply with interval, buckets or strategy")
    if ids is None:
        raise ParameterError("ids", "name the telemetry ids to aggregate or downsample")
    if types not in (None, ("data",)):
        raise ParameterError("type", "aggregates and strategies are computed over data only")
    return await _reading(charts.answer(hub.history, hub.catalog.types, chart, ids))


@router.delete(
    "/historical-data",
    summary="Delete logged messages (all, or those before a time); needs an admin token",
    responses=responses(*ACCESS, "bad_request", "history_unavailable"),
    dependencies=[ADMIN],
)
async def clear_history(
    hub: CurrentHub,
    before: Annotated[datetime | None, Query(description="ISO 8601; delete only older messages.")] = None,
) -> Deleted:
    try:
        deleted = await hub.history.delete(_micros(before))
    except Exception as error:
        raise HistoryUnavailable(
            f"the history log cannot be changed now: {error}; try again later"
        ) from error
    return Deleted(deleted=deleted)


async def _reading(read: Awaitable[T]) -> T:
    """The result of reading the history log; a log that cannot be read is history_unavailable (503)."""
    try:
        return await read
    except HubError:  # a parameter found wrong while answering (a chart's non-numeric id)
        raise
    except Exception as error:
        raise HistoryUnavailable(f"the history log cannot be read now: {error}; try again later") from error


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)
