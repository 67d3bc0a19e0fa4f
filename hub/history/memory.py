"""An in-memory history backend: the same semantics as SQLite, for tests and throwaway runs."""

from __future__ import annotations

from collections.abc import Sequence

from hub.history import planner
from hub.history.base import (
    ChartRequest,
    Cutoffs,
    Marks,
    Query,
    Reading,
    Record,
    Stored,
    TierStats,
    matches,
)
from hub.history.compact import value_of
from hub.history.rollup import Point, Summary, combine, summarize, tiered, unit
from hub.history.tiers import Tier
from hub.history.tiers import default as default_tiers


class MemoryHistory:
    name = "memory"

    def __init__(self, tiers: Sequence[Tier] | None = None) -> None:
        self.tier_list = default_tiers() if tiers is None else tuple(tiers)
        self._records: list[Record] = []  # in increasing seq order
        self._rollups: dict[str, dict[tuple[str, int], Summary]] = {t.name: {} for t in self.tier_list}
        self._horizons: dict[str, int] = {}
        self._marks = Marks()

    async def open(self) -> Stored:
        return await self.stored()

    async def stored(self) -> Stored:
        highest = self._records[-1].seq if self._records else 0
        return Stored(self._marks, highest, len(self._records))

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        self._records.extend(records)
        self._roll_up(records)
        self._marks = marks

    def _roll_up(self, records: Sequence[Record]) -> None:
        widths = [t.width_us for t in self.tier_list]
        for telemetry_id, found in _points(records).items():
            for tier, level in zip(self.tier_list, tiered(telemetry_id, found, widths), strict=True):
                stored = self._rollups[tier.name]
                for start, summary in level.items():
                    if start < self._horizons.get(tier.name, 0):
                        continue
                    old = stored.get((telemetry_id, start))
                    stored[(telemetry_id, start)] = summary if old is None else combine(old, summary)

    async def query(self, query: Query) -> list[Record]:
        ordered = self._records if query.order == "asc" else reversed(self._records)
        found: list[Record] = []
        for record in ordered:
            if matches(record, query):
                found.append(record)
                if len(found) == query.limit:
                    break
        return found

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        wanted = set(ids)
        newest: dict[str, Record] = {}
        for record in self._records:
            if record.type == "data" and record.id in wanted:
                newest[record.id] = record
        return list(newest.values())

    async def read(self, request: ChartRequest) -> Reading:
        parts: list[Summary] = []
        for span in planner.spans(request, self.tier_list, self._horizons):
            if span.tier is None:
                parts += self._units(request.ids, span.start_us, span.end_us)
                continue
            for (telemetry_id, start), summary in self._rollups[span.tier.name].items():
                if telemetry_id in request.ids and span.start_us <= start < span.end_us:
                    parts.append(summary)
        highest = self._records[-1].seq if self._records else 0
        return Reading(parts, highest)

    def _units(self, ids: Sequence[str], start_us: int, end_us: int) -> list[Summary]:
        units = []
        for record in self._records:
            if record.type == "data" and record.id in ids and start_us <= record.time_us < end_us:
                value = value_of(record)
                if value is not None and record.id is not None:
                    units.append(unit(record.id, Point(record.seq, record.time_us, value)))
        return units

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        if before_us is None:
            for stored in self._rollups.values():
                stored.clear()
            return self._delete_raw(None)
        result = self._delete_raw(before_us)
        for tier in self.tier_list:
            stored = self._rollups[tier.name]
            for key in [k for k in stored if k[1] < before_us]:
                del stored[key]
            straddling = before_us - before_us % tier.width_us
            if straddling < before_us:  # what is left of its bucket, summarized again
                end = straddling + tier.width_us
                kept = [r for r in self._records if r.time_us < end]
                for telemetry_id, points in _points(kept).items():
                    stored[(telemetry_id, straddling)] = summarize(telemetry_id, straddling, points)
        return result

    def _delete_raw(self, before_us: int | None) -> tuple[int, int]:
        gone = [r.seq for r in self._records if before_us is None or r.time_us < before_us]
        self._records = [r for r in self._records if before_us is not None and r.time_us >= before_us]
        highest = max(gone, default=0)
        if highest > self._marks.unrecoverable_seq:
            self._marks = Marks(self._marks.reserved_seq, highest)
        if before_us is not None:
            self._horizons[planner.RAW] = max(self._horizons.get(planner.RAW, 0), before_us)
        return len(gone), highest

    async def expire(self, cutoffs: Cutoffs) -> tuple[int, int]:
        for tier in self.tier_list:
            cutoff = cutoffs.tiers.get(tier.name)
            if cutoff is not None:
                since = cutoff - cutoff % tier.width_us
                stored = self._rollups[tier.name]
                for key in [k for k in stored if k[1] < since]:
                    del stored[key]
                self._horizons[tier.name] = max(self._horizons.get(tier.name, 0), since)
        return self._delete_raw(cutoffs.raw_us) if cutoffs.raw_us is not None else (0, 0)

    async def trim(self, max_bytes: int) -> tuple[int, int]:
        return 0, 0  # nothing on disk

    async def tiers(self) -> list[TierStats]:
        times = [r.time_us for r in self._records]
        stats = [TierStats(planner.RAW, len(times), None, min(times, default=None), max(times, default=None))]
        for tier in self.tier_list:
            starts = [start for _, start in self._rollups[tier.name]]
            newest = max(starts, default=None)
            stats.append(
                TierStats(
                    tier.name,
                    len(starts),
                    None,
                    min(starts, default=None),
                    None if newest is None else newest + tier.width_us,
                )
            )
        return stats

    async def close(self, marks: Marks | None) -> None:
        if marks is not None:
            self._marks = marks


def _points(records: Sequence[Record]) -> dict[str, list[Point]]:
    """The points of the data records that have a value, by id, in seq order."""
    points: dict[str, list[Point]] = {}
    for record in records:
        value = value_of(record) if record.type == "data" else None
        if value is not None and record.id is not None:
            points.setdefault(record.id, []).append(Point(record.seq, record.time_us, value))
    return points
