"""History for charts: aggregates per time bucket, and the `latest` and `minmax` downsampling strategies.

`GET /historical-data` takes these besides its filters. `interval` (buckets of a fixed length, aligned to
whole multiples of it since the Unix epoch, so 1m buckets start on the minute and 1d at midnight UTC) or
`buckets` (that many equal buckets over [start, end)) with `agg` gives one row per id and non-empty bucket.
`strategy=latest&size=N` gives the newest N points of each id; `strategy=minmax&size=N` cuts [start, end)
into N/2 buckets and gives, per id and bucket, the points of the lowest and highest value (what Open MCT's
plots ask for). Both strategies answer a page of messages exactly as streamed, ordered by seq.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

import orjson
from pydantic import BaseModel, Field

from hub.history import HistoryLog, Query, Record, cursor
from hub.history.base import ChartRequest
from hub.history.compact import payload
from hub.history.rollup import Point, Summary
from hub.messages import format_timestamp
from hub.templates import NUMERIC, TelemetryType, Value
from hub.web.problems import ParameterError

Aggregate = Literal["min", "max", "avg", "count", "first", "last"]
Strategy = Literal["latest", "minmax"]
AGGREGATES: tuple[Aggregate, ...] = get_args(Aggregate)
NUMERIC_ONLY = ("min", "max", "avg")
MAX_BUCKETS = 10_000
"""Most buckets (rows) per id in one answer; more would be more points than any chart can show."""
MAX_SIZE = 10_000
UNITS_US = {"ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
MAX_WIDTH_US = 10_000 * UNITS_US["d"]
INTERVAL = re.compile(r"([0-9]{1,12})(ms|s|m|h|d)")
LADDER_US = tuple(
    n * UNITS_US[unit]
    for n, unit in (
        *((n, "ms") for n in (1, 2, 5, 10, 20, 50, 100, 200, 500)),
        *((n, "s") for n in (1, 2, 5, 10, 15, 30)),
        *((n, "m") for n in (1, 2, 5, 10, 15, 30)),
        *((n, "h") for n in (1, 2, 3, 6, 12)),
        (1, "d"),
    )
)
"""The widths `buckets` and `strategy=minmax` round up to (as Grafana rounds its intervals)."""

DESCRIPTION = """\
Without the chart parameters: a page of messages exactly as streamed (`HistoryPage`), in seq order.

For charts (of the data of `ids`, in [start, end)), answered from the rollups, exactly:

- `interval` or `buckets` with `agg`: one row per id and non-empty bucket with the aggregates asked for
  (`AggregatePage`). `interval` buckets are aligned to whole multiples of it since the epoch (UTC);
  `buckets=N` takes (end - start) / N rounded up to the ladder 1, 2, 5 ms ... 1, 2, 5, 10, 15, 30 s,
  1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1 d, then whole days, aligned the same way (`width_us` says
  which). min, max and avg need numeric telemetry (int, float); count, first and last take any.
- `strategy=latest&size=N`: the newest N points of each id (by seq), as a page, oldest first.
- `strategy=minmax&size=N` (start and end needed): buckets of (end - start) / (N/2) rounded up to the
  ladder; per id and bucket the points of the lowest and of the highest value, as a page in seq order (at
  most N + 2 points per id).

At most 10,000 buckets per id. Paging (`cursor`, `after_seq`, `limit`, `order`) does not apply to these.
"""


class AggregateRow(BaseModel):
    """One id in one non-empty bucket. Only the aggregates asked for in `agg` are present."""

    id: str
    start: str = Field(description="Start of the bucket, ISO 8601 UTC (it may be before `start`).")
    count: int | None = Field(None, description="Points in the bucket.")
    min: int | float | None = Field(None, description="Lowest value (numeric types).")
    max: int | float | None = Field(None, description="Highest value (numeric types).")
    avg: float | None = Field(None, description="Mean value (numeric types).")
    first: Value | None = Field(None, description="Value of the bucket's first point (lowest seq).")
    last: Value | None = Field(None, description="Value of the bucket's last point (highest seq).")


class AggregatePage(BaseModel):
    """The answer with `interval` or `buckets`: rows ordered by id (as listed in `ids`), then time."""

    width_us: int = Field(description="Length of each bucket in microseconds.")
    aggregates: list[Aggregate]
    rows: list[AggregateRow]


@dataclass(frozen=True, slots=True)
class Chart:
    """What a request asks for, checked: `aggregate` (with `aggregates`), `latest` or `minmax`."""

    kind: Literal["aggregate", "latest", "minmax"]
    start_us: int | None
    end_us: int | None
    origin_us: int = 0
    width_us: int = 1
    aggregates: tuple[Aggregate, ...] = ()
    size: int = 0


def plan(
    interval: str | None,
    buckets: int | None,
    agg: Sequence[str] | None,
    strategy: Strategy | None,
    size: int | None,
    start_us: int | None,
    end_us: int | None,
) -> Chart | None:
    """The chart these parameters ask for; None when they ask for none (a plain page of messages)."""
    aggregates = _aggregates(agg)
    if strategy is not None:
        if interval is not None or buckets is not None or aggregates:
            raise ParameterError("strategy", "give either strategy and size, or interval or buckets with agg")
        return _strategy(strategy, size, start_us, end_us)
    if size is not None:
        raise ParameterError("size", "applies only with strategy=latest or strategy=minmax")
    if interval is None and buckets is None:
        if aggregates:
            raise ParameterError("agg", "needs interval or buckets: aggregates are computed per bucket")
        return None
    if interval is not None and buckets is not None:
        raise ParameterError("buckets", "give interval or buckets, not both")
    if not aggregates:
        raise ParameterError("agg", f"give one or more of {', '.join(AGGREGATES)} with interval or buckets")
    if interval is None:
        if start_us is None or end_us is None:
            raise ParameterError("buckets", "needs both start and end: the buckets divide [start, end)")
        if not 1 <= (buckets or 0) <= MAX_BUCKETS:
            raise ParameterError("buckets", f"must be from 1 to {MAX_BUCKETS:,} (buckets per id)")
        width = friendly_width(-(-(end_us - start_us) // (buckets or 1)))
        return Chart("aggregate", start_us, end_us, start_us - start_us % width, width, aggregates)
    width = parse_interval(interval)
    start = 0 if start_us is None else start_us  # with no start, buckets count from the epoch
    origin = start - start % width
    count = None if start_us is None or end_us is None else -(-(end_us - origin) // width)
    if count is not None and count > MAX_BUCKETS:
        raise ParameterError(
            "interval",
            f"{interval} cuts start to end into {count:,} buckets, more than {MAX_BUCKETS:,}: "
            "take a longer interval or a shorter range",
        )
    return Chart("aggregate", start, end_us, origin, width, aggregates)


def parse_interval(text: str) -> int:
    """`10s` as microseconds: a positive whole number of ms, s, m, h or d."""
    match = INTERVAL.fullmatch(text.strip())
    if match is None:
        raise ParameterError(
            "interval", f"{text!r} is not a whole number of ms, s, m, h or d (e.g. 10s or 1m)"
        )
    width = int(match[1]) * UNITS_US[match[2]]
    if not 0 < width <= MAX_WIDTH_US:
        raise ParameterError("interval", f"{text!r} must be longer than zero and at most 10000d")
    return width


def _aggregates(agg: Sequence[str] | None) -> tuple[Aggregate, ...]:
    names = [name.strip() for text in agg or () for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in AGGREGATES]
    if unknown:
        raise ParameterError("agg", f"{', '.join(map(repr, unknown))}: use {', '.join(AGGREGATES)}")
    if agg is not None and not names:
        raise ParameterError("agg", f"give one or more of {', '.join(AGGREGATES)}")
    return tuple(cast(Aggregate, name) for name in dict.fromkeys(names))


def _strategy(strategy: Strategy, size: int | None, start_us: int | None, end_us: int | None) -> Chart:
    if size is None:
        raise ParameterError("size", f"strategy={strategy} needs size, the number of points per id")
    if not 1 <= size <= MAX_SIZE:
        raise ParameterError("size", f"must be from 1 to {MAX_SIZE:,}")
    if strategy == "latest":
        return Chart("latest", start_us, end_us, size=size)
    if size < 2:
        raise ParameterError("size", "strategy=minmax needs at least 2: a min and a max per bucket")
    if start_us is None or end_us is None:
        raise ParameterError(
            "strategy", "minmax needs both start and end: it divides [start, end) into buckets"
        )
    width = friendly_width(-(-(end_us - start_us) // (size // 2)))
    return Chart("minmax", start_us, end_us, start_us - start_us % width, width, size=size)


def friendly_width(width_us: int) -> int:
    """The first width of the ladder (1, 2, 5 ms ... 1 s, 2 s, 5 s, 10 s, 15 s, 30 s, 1 min ... 12 h, 1 d,
    then whole days) at least `width_us`: each is a whole number of a rollup tier's buckets."""
    for step in LADDER_US:
        if step >= width_us:
            return step
    day = UNITS_US["d"]
    return -(-width_us // day) * day


async def answer(
    history: HistoryLog, types: Mapping[str, TelemetryType], chart: Chart, ids: tuple[str, ...]
) -> bytes:
    """The JSON body answering `chart` for `ids` (known telemetry types)."""
    needs_numbers: list[str] = [a for a in chart.aggregates if a in NUMERIC_ONLY]
    if chart.kind == "minmax":
        needs_numbers = ["minmax"]
    for telemetry_id in ids:
        datatype = types[telemetry_id].datatype
        if needs_numbers and datatype not in NUMERIC:
            parameter = "strategy" if chart.kind == "minmax" else "agg"
            raise ParameterError(
                parameter, f"{', '.join(needs_numbers)} needs numeric telemetry; {telemetry_id} is {datatype}"
            )
    if chart.kind == "latest":
        records: list[Record] = []
        for telemetry_id in ids:
            query = Query(
                (telemetry_id,), ("data",), chart.start_us, chart.end_us, order="desc", limit=chart.size
            )
            records += await history.query(query)
        return cursor.page(sorted(records, key=lambda r: r.seq))
    request = ChartRequest(ids, chart.origin_us, chart.width_us, chart.start_us or 0, chart.end_us)
    summaries = await history.chart(request)
    if chart.kind == "minmax":
        return cursor.page(sorted(_extremes(summaries), key=lambda r: r.seq))
    return _rows(chart, types, summaries, ids)


def _extremes(summaries: list[Summary]) -> Iterator[Record]:
    """The points of the lowest and highest value of each bucket, as the messages that were streamed."""
    for summary in summaries:
        points = (summary.low, summary.high)
        for point in points[:1] if summary.low == summary.high else points:
            if point is not None:
                yield Record(point.seq, "data", summary.id, point.time_us, payload(summary.id, *_at(point)))


def _at(point: Point) -> tuple[int, int, Value]:
    return point.seq, point.time_us, point.value


def _rows(
    chart: Chart, types: Mapping[str, TelemetryType], summaries: list[Summary], ids: tuple[str, ...]
) -> bytes:
    by_id: dict[str, list[Summary]] = {telemetry_id: [] for telemetry_id in ids}
    for summary in summaries:
        by_id[summary.id].append(summary)
    rows = []
    for telemetry_id, found in by_id.items():
        if len(found) > MAX_BUCKETS:
            raise ParameterError(
                "interval",
                f"more than {MAX_BUCKETS:,} buckets for {telemetry_id}: "
                "give start and end closer together, or a longer interval",
            )
        number = int if types[telemetry_id].datatype == "int" else float
        for summary in found:
            start = format_timestamp(summary.start_us)
            aggregates = {name: _aggregate(name, summary, number) for name in chart.aggregates}
            rows.append({"id": telemetry_id, "start": start} | aggregates)
    return orjson.dumps({"width_us": chart.width_us, "aggregates": chart.aggregates, "rows": rows})


def _aggregate(name: Aggregate, summary: Summary, number: type[int] | type[float]) -> object:
    if name == "count":
        return summary.count
    if name == "first":
        return summary.first.value
    if name == "last":
        return summary.last.value
    if summary.low is None or summary.high is None:
        return None  # no numeric value in the bucket
    if name == "min":
        return number(summary.low.value)
    if name == "max":
        return number(summary.high.value)
    return summary.mean
