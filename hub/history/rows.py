"""Rollup rows as the SQL backends store them, and back.

A row is keyed by (sensor, bucket), the bucket being the start time divided by the tier's width. Times are
kept as offsets from the bucket's start and seqs as offsets from the first seq, which makes most of them a
byte or three (SQLite stores integers in as few bytes as they need). A point that is the first point again
(a bucket of one point, or a first point that is also the lowest) is stored as offset 0 with no time and no
value. The exact sum n * 2**k is `total` (an integer, or its decimal text beyond 64 bits) and `total_exp`;
none for a single point, whose value is the sum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hub.history.rollup import Point, Summary, exact, normalized
from hub.templates import Value

COLUMNS = (
    "sensor",
    "bucket",
    "count",
    "first_seq",
    "first_dt",
    "first_value",
    "last_dseq",
    "last_dt",
    "last_value",
    "low_dseq",
    "low_dt",
    "low_value",
    "high_dseq",
    "high_dt",
    "high_value",
    "total",
    "total_exp",
)
INT64 = 2**63


def encode(sensor: int, width_us: int, summary: Summary, store: Callable[[Value], Any]) -> tuple[Any, ...]:
    """The row of `summary` (its start a multiple of `width_us`); `store` turns a value into a column."""
    start, first = summary.start_us, summary.first.seq

    def point(p: Point | None) -> tuple[Any, ...]:
        if p is None:
            return (None, None, None)
        if p.seq == first:
            return (0, None, None)  # the first point again
        return (p.seq - first, p.time_us - start, store(p.value))

    total: tuple[Any, Any] = (None, None)
    if summary.total is not None and summary.count > 1:  # one point: its value is the sum
        n, k = normalized(summary.total)
        total = (n if -INT64 <= n < INT64 else str(n), k)
    return (
        sensor,
        start // width_us,
        summary.count,
        first,
        summary.first.time_us - start,
        store(summary.first.value),
        *point(summary.last),
        *point(summary.low),
        *point(summary.high),
        *total,
    )


def decode(
    row: Sequence[Any], telemetry_id: str, width_us: int, numeric: bool, load: Callable[[Any], Value]
) -> Summary:
    """The summary of a row read in `COLUMNS` order; `load` turns a column back into the value."""
    (_, bucket, count, first_seq, first_dt, first_value, *rest) = row
    start = bucket * width_us

    first = Point(first_seq, start + first_dt, load(first_value))

    def point(dseq: Any, dt: Any, value: Any) -> Point | None:
        if dseq is None:
            return None
        return first if dt is None else Point(first_seq + dseq, start + dt, load(value))

    last = point(*rest[0:3])
    low, high = point(*rest[3:6]), point(*rest[6:9])
    total = None if rest[9] is None else (int(rest[9]), int(rest[10]))
    if total is None and low is not None:
        total = exact(first.value)  # type: ignore[arg-type]
    return Summary(
        telemetry_id,
        start,
        count,
        first,
        last or first,
        count if numeric and low is not None else 0,
        low,
        high,
        total,
    )
