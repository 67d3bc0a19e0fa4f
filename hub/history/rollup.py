"""Summaries of data points: what a rollup row holds, how two combine, and how points become one.

A `Summary` of one id's points in one bucket holds their count, the first and last point (lowest and
highest `seq`), and for numbers the points of the lowest and highest value (ties: the lowest `seq`) and
their exact sum. Combining summaries of disjoint sets of points gives exactly the summary of their union,
in any order and grouping: that is what lets a chart be answered from coarse rollups, finer edges and raw
points alike, identically to summarizing every raw point.

The sum is exact: a number n * 2**k kept as the integers (n, k), so that an average is the exact mean
rounded once, whatever the grouping (floating-point sums would differ in their last bits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from hub.templates import Value

Total = tuple[int, int]
"""An exact sum n * 2**k as (n, k)."""


@dataclass(frozen=True, slots=True)
class Point:
    seq: int
    time_us: int
    value: Value


@dataclass(frozen=True, slots=True)
class Summary:
    """One id's points in the bucket starting at `start_us` (a raw point: a bucket of its own).

    `numbers` of the `count` points had a numeric value; `low`, `high` and `total` are None when none had."""

    id: str
    start_us: int
    count: int
    first: Point
    last: Point
    numbers: int = 0
    low: Point | None = None
    high: Point | None = None
    total: Total | None = None

    @property
    def mean(self) -> float | None:
        """The exact mean of the numeric values, rounded once to a float."""
        if self.total is None or not self.numbers:
            return None
        n, k = self.total
        exact = Fraction(n << k) if k >= 0 else Fraction(n, 1 << -k)
        return float(exact / self.numbers)


def is_number(value: Value) -> bool:
    """Whether min, max and sums apply: an int or a finite float (a bool is not a number here)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))  # type: ignore[arg-type]


def exact(value: int | float) -> Total:
    if type(value) is int:
        return value, 0
    n, d = value.as_integer_ratio()
    return n, 1 - d.bit_length()


def add(a: Total, b: Total) -> Total:
    (n1, k1), (n2, k2) = a, b
    if k1 == k2:
        return n1 + n2, k1
    if k1 < k2:
        return n1 + (n2 << (k2 - k1)), k1
    return (n1 << (k1 - k2)) + n2, k2


def normalized(total: Total) -> Total:
    """The same sum with the fewest bits in n (what is stored)."""
    n, k = total
    if n == 0:
        return 0, 0
    zeros = (n & -n).bit_length() - 1
    shift = zeros if k >= 0 else min(zeros, -k)
    return n >> shift, k + shift


def settled(summary: Summary) -> Summary:
    """The same summary with its sum `normalized`: equal summaries then compare equal."""
    if summary.total is None:
        return summary
    return replace(summary, total=normalized(summary.total))


def exact_sum(values: Sequence[int | float]) -> Total:
    if all(type(v) is int for v in values):
        return sum(values), 0  # type: ignore[arg-type]
    return _float_sum(values)


def _float_sum(values: Sequence[int | float]) -> Total:
    """The exact sum of numbers of which at least one is a float: each is n / 2**j; over the largest
    denominator they add up as integers."""
    ratios = [v.as_integer_ratio() for v in values]
    denominator = max(d for _, d in ratios)
    return sum(n * (denominator // d) for n, d in ratios), 1 - denominator.bit_length()


def columns(
    telemetry_id: str,
    seqs: Sequence[int],
    times: Sequence[int],
    values: Sequence[Value],
    width_us: int,
    kind: str,
) -> dict[int, Summary]:
    """`by_bucket` for the points of one sensor given as columns (increasing seq), its values all of one
    `kind` (compact.Kind). The writer's hot path: it takes runs of points in the same bucket, which is most
    of them, as list slices."""
    found: dict[int, Summary] = {}
    keys = [t // width_us for t in times]
    end, i = len(keys), 0
    while i < end:
        key, j = keys[i], i + 1
        while j < end and keys[j] == key:
            j += 1
        start = key * width_us
        run = _run(telemetry_id, start, seqs, times, values, i, j, kind)
        old = found.get(start)
        found[start] = run if old is None else combine(old, run)
        i = j
    return found


def _run(
    telemetry_id: str,
    start_us: int,
    seqs: Sequence[int],
    times: Sequence[int],
    values: Sequence[Value],
    i: int,
    j: int,
    kind: str,
) -> Summary:
    first = Point(seqs[i], times[i], values[i])
    last = first if j == i + 1 else Point(seqs[j - 1], times[j - 1], values[j - 1])
    if kind not in ("int", "float"):
        return Summary(telemetry_id, start_us, j - i, first, last)
    run: Sequence[int | float] = values[i:j]  # type: ignore[assignment]
    low_at, high_at = i + run.index(min(run)), i + run.index(max(run))  # the first of equals
    low = Point(seqs[low_at], times[low_at], values[low_at])
    high = Point(seqs[high_at], times[high_at], values[high_at])
    total = (sum(run), 0) if kind == "int" else _float_sum(run)
    return Summary(telemetry_id, start_us, j - i, first, last, j - i, low, high, total)  # type: ignore[arg-type]


def summarize(telemetry_id: str, start_us: int, points: Sequence[Point]) -> Summary:
    """The summary of `points` (in increasing `seq`, at least one) in the bucket starting at `start_us`."""
    first, last = points[0], points[-1]
    numeric = [(p.value, i) for i, p in enumerate(points) if is_number(p.value)]
    if not numeric:
        return Summary(telemetry_id, start_us, len(points), first, last)
    values = [v for v, _ in numeric]
    low_value, high_value = min(values), max(values)
    low = points[numeric[values.index(low_value)][1]]  # index(): the first of equals, the lowest seq
    high = points[numeric[values.index(high_value)][1]]
    total = exact_sum(values)  # type: ignore[arg-type]
    return Summary(telemetry_id, start_us, len(points), first, last, len(values), low, high, total)


def unit(telemetry_id: str, point: Point) -> Summary:
    """The summary of one raw point, in a bucket of its own starting at its time."""
    if not is_number(point.value):
        return Summary(telemetry_id, point.time_us, 1, point, point)
    return Summary(telemetry_id, point.time_us, 1, point, point, 1, point, point, exact(point.value))  # type: ignore[arg-type]


def combine(a: Summary, b: Summary, start_us: int | None = None) -> Summary:
    """The summary of the union of two disjoint sets of one id's points (in the bucket at `start_us`,
    by default the earlier start)."""
    return Summary(
        a.id,
        min(a.start_us, b.start_us) if start_us is None else start_us,
        a.count + b.count,
        a.first if a.first.seq < b.first.seq else b.first,
        a.last if a.last.seq > b.last.seq else b.last,
        a.numbers + b.numbers,
        _pick(a.low, b.low, lower=True),
        _pick(a.high, b.high, lower=False),
        a.total if b.total is None else b.total if a.total is None else add(a.total, b.total),
    )


def _pick(a: Point | None, b: Point | None, lower: bool) -> Point | None:
    """The point of the lower (or higher) value; of equal values, the one of the lower seq."""
    if a is None or b is None:
        return a if b is None else b
    if a.value == b.value:
        return a if a.seq < b.seq else b
    return a if (a.value < b.value) == lower else b  # type: ignore[operator]


def by_bucket(
    telemetry_id: str, points: Sequence[Point], width_us: int, origin_us: int = 0
) -> dict[int, Summary]:
    """The summaries of `points` (increasing `seq`) in buckets of `width_us` from `origin_us`, by bucket
    start."""
    groups: dict[int, list[Point]] = {}
    for point in points:
        start = point.time_us - (point.time_us - origin_us) % width_us
        groups.setdefault(start, []).append(point)
    return {start: summarize(telemetry_id, start, members) for start, members in groups.items()}


def coarsen(summaries: Sequence[Summary], width_us: int, origin_us: int = 0) -> dict[int, Summary]:
    """Summaries combined into buckets of `width_us` (a multiple of theirs), by bucket start."""
    merged: dict[int, Summary] = {}
    for summary in summaries:
        start = summary.start_us - (summary.start_us - origin_us) % width_us
        old = merged.get(start)
        merged[start] = moved(summary, start) if old is None else combine(old, summary, start)
    return merged


def moved(summary: Summary, start_us: int) -> Summary:
    """The same points, as the summary of the bucket starting at `start_us`."""
    if summary.start_us == start_us:
        return summary
    return Summary(
        summary.id,
        start_us,
        summary.count,
        summary.first,
        summary.last,
        summary.numbers,
        summary.low,
        summary.high,
        summary.total,
    )


def tiered(telemetry_id: str, points: Sequence[Point], widths: Sequence[int]) -> list[dict[int, Summary]]:
    """The summaries of `points` (increasing `seq`) at each width of `widths` (finest first, each a
    multiple of the one before), by bucket start."""
    return levels(by_bucket(telemetry_id, points, widths[0]), widths) if widths else []


def levels(finest: dict[int, Summary], widths: Sequence[int]) -> list[dict[int, Summary]]:
    """`finest` (summaries in buckets of the first width or finer) at each width of `widths` (finest
    first, each a multiple of the one before): each level coarsened from the one before."""
    found, level = [], finest
    for width in widths:
        level = coarsen(list(level.values()), width)
        found.append(level)
    return found
