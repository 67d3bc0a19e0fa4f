"""The log: assigns `seq`, buffers records and writes them to the backend in batches.

`seq` is strictly increasing across restarts and never reused. A message is streamed as soon as it has a
`seq`, before its batch is on disk, so a crash could otherwise hand the same numbers out again after a
restart. The log therefore reserves numbers ahead in the same transactions that write batches: after a crash
the next `seq` starts past the reservation (a gap, which the contract allows); a clean close records the
last number actually used, so a clean restart leaves no gap.

With several hub processes (HUB_REDIS_URL) one of them writes the log and the others follow it: a follower's
log reads the shared backend and keeps what it received of the stream until the writer reports it written,
so its queries see everything it has delivered; if it takes over, it writes what the previous writer streamed
but did not write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict

from hub.history import planner
from hub.history.base import (
    ChartRequest,
    Cutoffs,
    HistoryBackend,
    Marks,
    Query,
    Record,
    TierStats,
    in_chart,
    matches,
)
from hub.history.compact import value_of
from hub.history.rollup import Point, Summary, unit
from hub.messages import format_timestamp

log = logging.getLogger(__name__)

RESERVE_AHEAD = 1_000_000
"""Numbers reserved past the last one handed out; far more than any rate produces in one flush interval."""


class Part(BaseModel):
    """One part of the log on disk: the raw records or one rollup tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rows: int
    bytes: int | None
    oldest: str | None
    newest: str | None

    @classmethod
    def of(cls, stats: TierStats) -> Part:
        def moment(time_us: int | None) -> str | None:
            return None if time_us is None else format_timestamp(time_us)

        return cls(
            name=stats.name,
            rows=stats.rows,
            bytes=stats.bytes,
            oldest=moment(stats.oldest_us),
            newest=moment(stats.newest_us),
        )


class LogStats(BaseModel):
    """The log's part of /health."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str
    messages: int
    pending: int
    last_seq: int
    error: str | None
    """Why the last write failed, while writes fail."""
    tiers: list[Part]
    """The raw log and each rollup tier, as last measured (by retention, every ten minutes)."""


class HistoryLog:
    """Front of the history backend that the rest of the hub talks to.

    `on_batch` is told how many seconds each batch that wrote records took (the metrics time them)."""

    def __init__(
        self,
        backend: HistoryBackend,
        flush_interval_s: float = 0.1,
        reserve_ahead: int = RESERVE_AHEAD,
        on_batch: Callable[[float], None] | None = None,
    ) -> None:
        self.backend = backend
        self.reserve_ahead = reserve_ahead
        self.flush_interval_s = flush_interval_s
        self._pending: list[Record] = []
        self._writing: list[Record] = []  # the batch being written: in neither _pending nor the backend
        self._last_seq = 0
        self._reserved = 0
        self._unrecoverable = 0
        self._count = 0
        self._flush_lock = asyncio.Lock()
        self._followed_from: int | None = None  # a follower: first seq of what it received without a gap
        self.written_seq = 0
        """A follower: everything up to this seq is in the backend, as the writer last reported."""
        self._written_moved = asyncio.Event()
        self.writing = False
        """True in the process that writes the log (every hub on its own; one process of several)."""
        self._on_written: Callable[[int], None] | None = None
        self._on_batch = on_batch
        self.last_error: str | None = None
        self.write_errors = 0
        """Writes that failed (their records were kept for the next one)."""
        self.tier_stats: list[TierStats] = []

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def unrecoverable_seq(self) -> int:
        """Messages up to this seq may be missing (deleted, or streamed and lost in a crash)."""
        return self._unrecoverable

    @property
    def count(self) -> int:
        """Messages in the log, including those not yet written."""
        return self._count + len(self._writing) + len(self._pending)

    @property
    def accepting(self) -> bool:
        """False once writes have failed for so long that the reserved `seq` numbers run low.

        Numbers past the reservation could be handed out again after a crash, so telemetry is dropped (and
        counted) until a write succeeds; this also bounds the memory the unwritten records take."""
        return self._reserved - self._last_seq > self.reserve_ahead // 10

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def open(self, write: bool = True) -> None:
        """Open the backend; with `write`, as the log's writer (else see `follow` and `take_over`)."""
        stored = await self.backend.open()
        self._count = stored.count
        self._unrecoverable = stored.marks.unrecoverable_seq
        if not write:
            self._last_seq = stored.highest_seq
            return
        self._last_seq = max(stored.highest_seq, stored.marks.reserved_seq)
        if stored.marks.reserved_seq > stored.highest_seq:
            # numbers were handed out but never written: a crash; whatever carried them is gone for good
            self._unrecoverable = max(self._unrecoverable, stored.marks.reserved_seq)
        self._reserved = self._last_seq + self.reserve_ahead
        await self.backend.write([], self._marks(self._reserved))
        self.writing = True

    def follow(self, record: Record) -> None:
        """A follower: `record` came from the writer's stream. Kept until the writer reports it written."""
        if self._followed_from is None:
            self._followed_from = record.seq
        self._last_seq = record.seq
        self._pending.append(record)

    def missed(self) -> None:
        """A follower missed part of the writer's stream: what it received before the gap cannot be
        written by it if it takes over (it counts as having received nothing until the next record). What
        it missed is in the backend once the writer's written mark has passed it."""
        self._followed_from = None

    def written(self, seq: int) -> None:
        """A follower: the writer has written everything up to `seq`."""
        kept = len(self._pending)
        self._pending = [r for r in self._pending if r.seq > seq]
        self._count += kept - len(self._pending)
        if seq > self.written_seq:
            self.written_seq = seq
            moved, self._written_moved = self._written_moved, asyncio.Event()
            moved.set()

    async def written_up_to(self, seq: int) -> None:
        """A follower: return once the writer has reported everything up to `seq` written."""
        while self.written_seq < seq:
            await self._written_moved.wait()

    async def take_over(self) -> None:
        """A follower becomes the writer. The backend's marks are read again; the records it received and
        are not written yet (the previous writer's last batches) are written now, and numbering continues
        past every number the previous writer reserved. Numbers it reserved past the last written one
        count as unrecoverable (as after a crash) unless this process received the stream without a gap
        from there on: then it has everything that was streamed."""
        stored = await self.backend.stored()
        self._pending = [r for r in self._pending if r.seq > stored.highest_seq]
        self._count = stored.count
        self._unrecoverable = stored.marks.unrecoverable_seq
        complete = self._followed_from is not None and self._followed_from <= stored.highest_seq + 1
        if not complete and stored.marks.reserved_seq > stored.highest_seq:
            self._unrecoverable = max(self._unrecoverable, stored.marks.reserved_seq)
        received = self._pending[-1].seq if self._pending else 0
        self._last_seq = max(stored.highest_seq, stored.marks.reserved_seq, received)
        self._reserved = self._last_seq  # so that the flush reserves ahead whether or not it has records
        self.writing = True
        await self.flush()

    async def step_down(self) -> None:
        """The writer becomes a follower: what it has not written yet is written now (another process will
        take over when it is done), then it only reads."""
        try:
            await self.flush()
        finally:
            self.writing = False
            self._pending = []
            self._followed_from = None

    def report_written_to(self, on_written: Callable[[int], None] | None) -> None:
        """From now on tell `on_written` the highest seq written after each batch that wrote records (None:
        tell nobody): the cluster says so as this process starts and stops leading, to stream the mark."""
        self._on_written = on_written

    def _marks(self, reserved: int) -> Marks:
        return Marks(reserved, self._unrecoverable)

    def next_seq(self) -> int:
        self._last_seq += 1
        return self._last_seq

    def append(self, record: Record) -> None:
        """Queue `record` for the next batch. Never blocks: the event loop must not wait on the disk."""
        self._pending.append(record)

    async def flush(self) -> None:
        """Write everything appended so far; returns once it is durable (or raises if the write failed)."""
        async with self._flush_lock:
            if not self._pending and self._reserved - self._last_seq > self.reserve_ahead // 2:
                return
            batch, self._pending = self._pending, []
            self._writing = batch
            reserved = max(self._reserved, self._last_seq + self.reserve_ahead)
            started = time.perf_counter()
            try:
                await self.backend.write(batch, self._marks(reserved))
            except Exception as error:
                self._pending[:0] = batch  # keep them, in order, for the next attempt
                self.last_error = f"{type(error).__name__}: {error}"
                self.write_errors += 1
                raise
            finally:
                self._writing = []
            self._reserved = reserved
            self._count += len(batch)
            self.last_error = None
            if batch:
                seconds = time.perf_counter() - started
                log.debug("wrote %d records in %.1f ms", len(batch), seconds * 1e3)
                if self._on_batch is not None:
                    self._on_batch(seconds)
                if self._on_written is not None:
                    self._on_written(batch[-1].seq)

    async def run(self) -> None:
        """Flush every `flush_interval_s` until cancelled. Write errors are logged and retried."""
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:  # shielded: cancelled halfway, the batch would be neither pending nor written
                await asyncio.shield(self.flush())
            except Exception:
                log.exception(
                    "history write failed; %d records kept for the next attempt", len(self._pending)
                )

    async def close(self) -> None:
        """Write what is left and record the last `seq` used."""
        if not self.writing:
            await self.backend.close(None)
            return
        try:
            await self.flush()
        finally:
            await self.backend.close(self._marks(self._last_seq if not self._pending else self._reserved))

    async def query(self, query: Query) -> list[Record]:
        """Run `query` over everything appended so far, written or not (without forcing a write).

        The backend holds every record up to its highest seq, so an unwritten record at or below the
        highest one the backend returned is a repeat (a batch written while the query ran, or a follower's
        record whose batch the writer wrote) or outside the backend's `limit`: either way it is dropped, and
        the two parts join end to end."""
        unwritten = [r for r in (*self._writing, *self._pending) if matches(r, query)]
        written = await self.backend.query(query)
        if unwritten and written:
            newest = max(written[0].seq, written[-1].seq)
            unwritten = [r for r in unwritten if r.seq > newest]
        if query.order == "asc":
            return (written + unwritten)[: query.limit]
        return (unwritten[::-1] + written)[: query.limit]

    async def chart(self, request: ChartRequest) -> list[Summary]:
        """The summary of each id and non-empty bucket of `request`, over everything appended so far: what
        the backend read in one snapshot, and the records it did not hold then (each counted once)."""
        unwritten = [*self._writing, *self._pending]
        reading = await self.backend.read(request)
        units = [
            unit(record.id, Point(record.seq, record.time_us, value))
            for record in unwritten
            if record.seq > reading.highest_seq
            and in_chart(record, request)
            and record.id is not None
            and (value := value_of(record)) is not None
        ]
        return planner.assemble(request, [*reading.summaries, *units])

    async def latest(self, ids: list[str]) -> list[Record]:
        return await self.backend.latest(ids)

    async def delete(self, before_us: int | None) -> int:
        """Delete the records older than `before_us` (all when None) and the rollups of that time."""
        return await self._deleting(lambda: self.backend.delete(before_us))

    async def expire(self, cutoffs: Cutoffs) -> int:
        """Retention: raw records and rollup buckets past their periods (rollups outlive raw records)."""
        return await self._deleting(lambda: self.backend.expire(cutoffs))

    async def trim(self, max_bytes: int) -> int:
        """The size bound: the oldest raw records first, then the finest rollups."""
        return await self._deleting(lambda: self.backend.trim(max_bytes))

    async def _deleting(self, deletion: Callable[[], Awaitable[tuple[int, int]]]) -> int:
        """Run a backend deletion after everything appended is written, and take in its marks."""
        await self.flush()
        async with self._flush_lock:  # so that no batch writes an older unrecoverable mark after this
            deleted, highest = await deletion()
            self._unrecoverable = max(self._unrecoverable, highest)
        self._count -= deleted
        return deleted

    async def measure_tiers(self) -> None:
        """Read the size and span of the raw log and of each tier again (for /health and /metrics)."""
        self.tier_stats = await self.backend.tiers()

    def stats(self) -> LogStats:
        return LogStats(
            backend=self.backend.name,
            messages=self.count,
            pending=self.pending,
            last_seq=self._last_seq,
            error=self.last_error,
            tiers=[Part.of(stats) for stats in self.tier_stats],
        )
