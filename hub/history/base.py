"""What every history backend implements, and the records and queries it deals in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from hub.history.rollup import Summary
from hub.templates import Value

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class Record:
    """One logged message: its indexable fields and the JSON text exactly as it was streamed.

    `value`: a data message's value, when the publisher knows it (the log then need not parse `payload`)."""

    seq: int
    type: str
    id: str | None
    time_us: int
    payload: str
    value: Value | None = None


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
class ChartRequest:
    """The data of `ids` with `start_us <= time_us < end_us` (None: no end), summarized per id in buckets of
    `width_us` aligned to `origin_us`: bucket k holds [origin_us + k * width_us, origin_us + (k + 1) *
    width_us). `origin_us <= start_us`."""

    ids: tuple[str, ...]
    origin_us: int
    width_us: int
    start_us: int
    end_us: int | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What a backend read for a chart in one snapshot: summaries of rollup buckets and of raw points, and
    the highest `seq` it holds (records above it were not written when it read)."""

    summaries: list[Summary]
    highest_seq: int


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


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What retention deletes: raw records older than `raw_us` (None: none), and per tier name the buckets
    that end at or before its cutoff."""

    raw_us: int | None
    tiers: dict[str, int]


@dataclass(frozen=True, slots=True)
class TierStats:
    """One part of the log (`raw`, or a tier's name): rows, bytes on disk (None where the backend cannot
    tell), and the time span it holds (None when empty)."""

    name: str
    rows: int
    bytes: int | None
    oldest_us: int | None
    newest_us: int | None


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

    async def read(self, request: ChartRequest) -> Reading:
        """The summaries that answer `request` exactly (hub/history/planner.py chooses them), in one
        snapshot."""
        ...

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        """Delete records older than `before_us` (all when None) with the rollups of that time, keeping
        the rollups of a bucket that straddles `before_us` exact; return how many records, and the highest
        seq deleted (0 if none). The unrecoverable mark is raised to that seq in the same transaction."""
        ...

    async def expire(self, cutoffs: Cutoffs) -> tuple[int, int]:
        """Retention: delete raw records older than `cutoffs.raw_us` (rollups stay: they still answer
        charts) and each tier's buckets that end before its cutoff; return as `delete` does."""
        ...

    async def trim(self, max_bytes: int) -> tuple[int, int]:
        """The size bound: past `max_bytes` in use, delete the oldest raw records, then the oldest rows of
        the finest tier, and so on; return as `delete` does."""
        ...

    async def tiers(self) -> list[TierStats]:
        """Size and span of the raw log and of each tier."""
        ...

    async def stored(self) -> Stored:
        """Read the marks and counts again: another process may have written since `open`."""
        ...

    async def close(self, marks: Marks | None) -> None:
        """Record `marks` (None: this process only read the log) and let go of every resource."""
        ...


def in_chart(record: Record, request: ChartRequest) -> bool:
    """Whether `record` is one of the data records `request` covers (the reference semantics)."""
    return (
        record.type == "data"
        and record.id in request.ids
        and record.time_us >= request.start_us
        and (request.end_us is None or record.time_us < request.end_us)
    )


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
