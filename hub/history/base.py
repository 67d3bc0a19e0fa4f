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
class Buckets:
    """The `data` records of `ids` with `start_us <= time_us < end_us`, cut into buckets of `width_us`: bucket
    k holds the times in [origin_us + k * width_us, origin_us + (k + 1) * width_us). `origin_us <= start_us`.

    `numeric`: the values are numbers (min, max and sums are wanted). `before_seq` (exclusive) lets the log
    leave out what it has not written yet; `limit` caps the (id, bucket) rows of a summary."""

    ids: tuple[str, ...]
    origin_us: int
    width_us: int
    start_us: int
    end_us: int | None = None
    numeric: bool = False
    before_seq: int | None = None
    limit: int = 10_001


Number = int | float


@dataclass(frozen=True, slots=True)
class Summary:
    """One id's records in one bucket. `low`, `high` and `total` (the sum) are None unless the request was
    `numeric`. `first` and `last` are the payloads of the records of the lowest and highest `seq`."""

    id: str
    bucket: int
    count: int
    low: Number | None
    high: Number | None
    total: float | None
    first_seq: int
    first: str
    last_seq: int
    last: str


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

    async def summarize(self, buckets: Buckets) -> list[Summary]:
        """One summary per id and non-empty bucket, ordered by id and bucket (at most `buckets.limit`)."""
        ...

    async def extremes(self, buckets: Buckets) -> list[Record]:
        """Per id and bucket, the record of the lowest and of the highest value (ties: the lowest seq), as
        one record when it is both; ordered by seq. For numeric telemetry only."""
        ...

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        """Delete records older than `before_us` (all when None); return how many, and the highest seq deleted
        (0 if none). The unrecoverable mark is raised to that seq in the same transaction."""
        ...

    async def stored(self) -> Stored:
        """Read the marks and counts again: another process may have written since `open`."""
        ...

    async def close(self, marks: Marks | None) -> None:
        """Record `marks` (None: this process only read the log) and let go of every resource."""
        ...


def in_buckets(record: Record, buckets: Buckets) -> bool:
    """Whether `record` is one of the records `buckets` covers (the reference semantics)."""
    return (
        record.type == "data"
        and record.id in buckets.ids
        and record.time_us >= buckets.start_us
        and (buckets.end_us is None or record.time_us < buckets.end_us)
        and (buckets.before_seq is None or record.seq < buckets.before_seq)
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
