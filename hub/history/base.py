"""What every history backend implements, and the records and queries it deals in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class Record:
    """One logged message: its indexable fields and the JSON text exactly as it was streamed."""

    seq: int
    type: str
    id: str | None
    time_us: int
    payload: str


@dataclass(frozen=True, slots=True)
class Query:
    """A filter over the log. Bounds on `seq` are exclusive; `start_us` inclusive, `end_us` exclusive."""

    ids: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    start_us: int | None = None
    end_us: int | None = None
    after_seq: int | None = None
    before_seq: int | None = None
    order: Order = "asc"
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class Marks:
    """Bookkeeping stored with the records.

    `reserved_seq`: the highest `seq` ever handed out or reserved. `unrecoverable_seq`: records up to this
    `seq` may be missing (deleted, or streamed and lost in a crash): a resume from below it is incomplete."""

    reserved_seq: int = 0
    unrecoverable_seq: int = 0


@dataclass(frozen=True, slots=True)
class Stored:
    """What a backend holds when it opens."""

    marks: Marks
    highest_seq: int
    count: int


class HistoryBackend(Protocol):
    """Durable storage of records. Called by `HistoryLog` only, which batches writes and assigns `seq`."""

    name: str

    async def open(self) -> Stored: ...

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        """Store `records` and the marks in one transaction."""
        ...

    async def query(self, query: Query) -> list[Record]: ...

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        """The newest `data` record of each id that has one."""
        ...

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        """Delete records older than `before_us` (all when None); return how many, and the highest seq deleted
        (0 if none). The unrecoverable mark is raised to that seq in the same transaction."""
        ...

    async def close(self, marks: Marks) -> None: ...


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
