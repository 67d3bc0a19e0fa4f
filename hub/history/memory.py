"""An in-memory history backend: the same semantics as SQLite, for tests and throwaway runs."""

from __future__ import annotations

from collections.abc import Sequence

from hub.history import aggregate
from hub.history.base import Buckets, Marks, Query, Record, Stored, Summary, matches


class MemoryHistory:
    name = "memory"

    def __init__(self) -> None:
        self._records: list[Record] = []  # in increasing seq order
        self._marks = Marks()

    async def open(self) -> Stored:
        return await self.stored()

    async def stored(self) -> Stored:
        highest = self._records[-1].seq if self._records else 0
        return Stored(self._marks, highest, len(self._records))

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        self._records.extend(records)
        self._marks = marks

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

    async def summarize(self, buckets: Buckets) -> list[Summary]:
        return aggregate.summarize(self._records, buckets)

    async def extremes(self, buckets: Buckets) -> list[Record]:
        return aggregate.extremes(self._records, buckets)

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        gone = [r.seq for r in self._records if before_us is None or r.time_us < before_us]
        self._records = [r for r in self._records if before_us is not None and r.time_us >= before_us]
        highest = max(gone, default=0)
        if highest > self._marks.unrecoverable_seq:
            self._marks = Marks(self._marks.reserved_seq, highest)
        return len(gone), highest

    async def close(self, marks: Marks | None) -> None:
        if marks is not None:
            self._marks = marks
