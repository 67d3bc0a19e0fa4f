"""The planner: which rollup rows and raw points answer a chart exactly, and how they add up.

A chart's buckets (width W, aligned to whole multiples of W) are built from the coarsest tier whose width
divides W, since each of that tier's buckets then falls inside one chart bucket. Where the range's start or
end cuts a tier bucket, that ragged edge is taken from the next finer tier, and so on down to raw points:
so every point of [start, end) is counted once, and the answer is exactly what summarizing the raw points
would give (tests/test_planner.py checks it over random data). A tier or the raw log serves only the time
it still holds (its horizon, moved forward by retention); an edge that no finer part still holds is taken
from the finest tier that does, whole: that bucket may then reach past `start` or `end`.

Records not written yet are merged by `HistoryLog` (`assemble` takes them as raw points).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hub.history.base import ChartRequest
from hub.history.rollup import Summary, combine, moved, settled
from hub.history.tiers import Tier

RAW = "raw"
END_OF_TIME = 2**62
"""The end of a chart without `end` (microseconds: year 148,000)."""


@dataclass(frozen=True, slots=True)
class Span:
    """Read [start_us, end_us) from `tier` (None: raw points). A tier span is aligned to its width."""

    tier: Tier | None
    start_us: int
    end_us: int


def spans(request: ChartRequest, tiers: Sequence[Tier], horizons: Mapping[str, int]) -> list[Span]:
    """The spans that cover the request's [start, end) once each, coarsest first where they can."""
    usable = [tier for tier in tiers if request.width_us % tier.width_us == 0]
    sources: list[Tier | None] = [*reversed(usable), None]
    end = END_OF_TIME if request.end_us is None else request.end_us
    return _cover(request.start_us, end, sources, tiers, horizons)


def _cover(
    start: int,
    end: int,
    sources: list[Tier | None],
    tiers: Sequence[Tier],
    horizons: Mapping[str, int],
) -> list[Span]:
    if start >= end:
        return []
    for index, source in enumerate(sources):
        width = 1 if source is None else source.width_us
        since = horizons.get(RAW if source is None else source.name, 0)
        low = _ceil(max(start, since), width)
        high = end - end % width
        if low < high:
            finer = sources[index + 1 :]
            return [
                *_cover(start, low, finer, tiers, horizons),
                Span(source, low, high),
                *_cover(high, end, finer, tiers, horizons),
            ]
    return _whole(start, end, tiers, horizons)


def _whole(start: int, end: int, tiers: Sequence[Tier], horizons: Mapping[str, int]) -> list[Span]:
    """An edge no finer part holds: the finest tier that holds it, in whole buckets (or nothing)."""
    for tier in tiers:
        width = tier.width_us
        low, high = start - start % width, _ceil(end, width)
        if horizons.get(tier.name, 0) <= low:
            return [Span(tier, low, high)]
    return []


def _ceil(value: int, width: int) -> int:
    return -(-value // width) * width


def assemble(request: ChartRequest, parts: Iterable[Summary]) -> list[Summary]:
    """The summary of each id and non-empty chart bucket, ordered by the request's ids, then time. A part
    that starts before the first bucket or after the last (a whole edge bucket) counts in that bucket."""
    width, origin = request.width_us, request.origin_us
    first = (request.start_us - origin) // width
    last = None if request.end_us is None else (request.end_us - 1 - origin) // width
    merged: dict[tuple[str, int], Summary] = {}
    for part in parts:
        bucket = max(first, (part.start_us - origin) // width)
        if last is not None:
            bucket = min(bucket, last)
        key, start = (part.id, bucket), origin + bucket * width
        old = merged.get(key)
        merged[key] = moved(part, start) if old is None else combine(old, part, start)
    order = {telemetry_id: index for index, telemetry_id in enumerate(request.ids)}
    return [settled(merged[key]) for key in sorted(merged, key=lambda k: (order[k[0]], k[1]))]
