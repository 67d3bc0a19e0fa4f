"""The leading process's stream to the others: every message it publishes, in batches, in `seq` order.

One task publishes each batch (one Redis message) after the previous one, so the order survives the pool of
connections the Redis client keeps. A batch also says up to which `seq` the log is written, and an empty one
goes out at least every second so that followers can tell a leader is there.

A follower checks what arrives: repeats are dropped, a jump in one leader's numbers means this process missed
part of the stream (Redis drops a subscriber that falls too far behind, and the listener reconnects), and
messages of a leader that has since been replaced are ignored. A process that starts following joins a
stream already under way: what was published before it listened, and not written yet when it opened the
log, it reads from the log once the leader says it is written (`catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hub import tasks
from hub.history import Record

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
"""The longest a leader stays silent: followers report the cluster degraded after three of these."""


class StreamSender:
    """The leader's side: batches records and the written mark, and publishes them in order."""

    def __init__(
        self, publish: Callable[[dict[str, Any]], Awaitable[None]], leader: str, last_seq: Callable[[], int]
    ) -> None:
        self._publish = publish
        self.leader = leader
        self._last_seq = last_seq
        self._records: list[list[Any]] = []
        self._written = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.term = 0

    def record(self, record: Record) -> None:
        self._records.append([record.seq, record.type, record.id, record.time_us, record.payload])
        self._wake.set()

    def written(self, seq: int) -> None:
        self._written = seq
        self._wake.set()

    def start(self, term: int) -> None:
        """Stream as the leader of `term` (a number each new leader takes from Redis, counting up)."""
        self.term = term
        self._closing = False
        self._task = tasks.start(self._run(), "stream to the other hub processes")

    async def stop(self) -> None:
        """Publish what is queued, then stop (never cancelled halfway through a batch)."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):  # nothing to send: a heartbeat
                await asyncio.wait_for(self._wake.wait(), HEARTBEAT_S)
            await self._drain()
        if self._records:  # queued while the last batch was being published
            await self._drain()

    async def _drain(self) -> None:
        self._wake.clear()
        records, self._records = self._records, []
        try:
            await self._publish({"kind": "stream", "leader": self.leader, "term": self.term,
                                 "records": records, "written": self._written,
                                 "last": self._last_seq()})  # fmt: skip
        except Exception:  # the Redis manager logs and gives up after a retry; this is a last resort
            log.exception("publishing %d messages to the other hub processes failed", len(records))


class StreamFollower:
    """A follower's side: checks each batch, hands on its records and the written mark."""

    def __init__(
        self,
        follow: Callable[[Record], None],
        written: Callable[[int], None],
        missed: Callable[[], None],
        last_seq: Callable[[], int],
    ) -> None:
        self._follow = follow
        self._written = written
        self._missed = missed
        self._last_seq = last_seq
        self.leader: str | None = None
        self.term = 0
        self.gaps = 0
        self.missed_up_to = 0
        """The end of the last gap: the log has what was missed once the leader has written up to it."""
        self.heard = time.monotonic()
        self._expected: int | None = None

    def receive(self, batch: dict[str, Any]) -> bool:
        """Take one batch; False when it showed that part of the stream was missed."""
        term = batch["term"]
        if term < self.term:
            return True  # a leader that lost its lease and has not noticed yet
        if term > self.term:
            if self.leader is not None:
                log.info("following a new leading process, %s (term %d)", batch["leader"], term)
            self.term, self.leader, self._expected = term, batch["leader"], None
        self.heard = time.monotonic()
        complete = True
        for seq, type_, id_, time_us, payload in batch["records"]:
            if seq <= self._last_seq():
                continue  # already here
            if self._expected is not None and seq != self._expected:
                self.gaps += 1
                self.missed_up_to = seq - 1
                complete = False
                log.warning("missed messages %d to %d of the leader's stream", self._expected, seq - 1)
                self._missed()
            self._expected = seq + 1
            self._follow(Record(seq, type_, id_, time_us, payload))
        if batch["written"]:
            self._written(batch["written"])
        return complete

    def silent_for(self) -> float:
        return time.monotonic() - self.heard


async def catch_up(
    batches: asyncio.Queue[dict[str, Any]],
    since: Callable[[], int],
    read: Callable[[int, int], Awaitable[list[Record]]],
) -> tuple[list[Record], list[dict[str, Any]]]:
    """Join a stream under way. This process has everything up to `since()`; the first batch received shows
    where the stream is. Wait until the leader has written everything before that point, then read from the
    log what lies between (`read(after, up_to)`). Returns those records and the batches received meanwhile,
    which follow them."""
    held = [await batches.get()]
    first = held[0]
    joined_at = first["records"][0][0] - 1 if first["records"] else first["last"]
    while held[-1]["written"] < joined_at:
        held.append(await batches.get())
    after = since()
    missing = await read(after, joined_at) if joined_at > after else []
    return missing, held
