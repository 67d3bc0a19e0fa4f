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


class HistoryBackend(Protocol):
    """Durable storage of records. Called by `HistoryLog` only, which batches writes and assigns `seq`."""

    name: str

    async def open(self) -> tuple[int, int]:
        """Prepare storage; return the highest `seq` ever reserved (0 if none) and the number of records."""
        ...

    async def write(self, records: Sequence[Record], reserved_seq: int) -> None:
        """Store `records` and the new reservation mark in one transaction."""
        ...

    async def query(self, query: Query) -> list[Record]: ...

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        """The newest `data` record of each id that has one."""
        ...

    async def delete(self, before_us: int | None) -> int:
        """Delete records older than `before_us` (all when None); return how many."""
        ...

    async def close(self, reserved_seq: int) -> None: ...
