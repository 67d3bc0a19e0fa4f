"""An in-memory history backend: the same semantics as SQLite, for tests and throwaway runs."""

from __future__ import annotations

from collections.abc import Sequence

from hub.history.base import Query, Record


class MemoryHistory:
    name = "memory"

    def __init__(self) -> None:
        self._records: list[Record] = []  # in increasing seq order
        self._reserved = 0

    async def open(self) -> tuple[int, int]:
        return self._reserved, len(self._records)

    async def write(self, records: Sequence[Record], reserved_seq: int) -> None:
        self._records.extend(records)
        self._reserved = reserved_seq

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

    async def delete(self, before_us: int | None) -> int:
        kept = [r for r in self._records if before_us is not None and r.time_us >= before_us]
        deleted = len(self._records) - len(kept)
        self._records = kept
        return deleted

    async def close(self, reserved_seq: int) -> None:
        self._reserved = reserved_seq


def matches(record: Record, query: Query) -> bool:
    """Whether `record` passes every filter of `query` (the reference semantics every backend follows)."""
    return (
        (query.ids is None or record.id in query.ids)
        and (query.types is None or record.type in query.types)
        and (query.start_us is None or record.time_us >= query.start_us)
        and (query.end_us is None or record.time_us < query.end_us)
        and (query.after_seq is None or record.seq > query.after_seq)
        and (query.before_seq is None or record.seq < query.before_seq)
    )
