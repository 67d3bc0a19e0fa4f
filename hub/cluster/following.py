"""Following the leading process's stream: joining it under way, taking each batch in order, and sending
this process's clients to resume when it missed part of the stream.

While this process leads, it follows nobody (`pause`); the batches of the leader it replaces that arrived
before it took over are taken first (`drain`), so that it writes what that one streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hub import tasks
from hub.cluster.lease import RENEW_S
from hub.cluster.member import Member, SharedLog
from hub.cluster.stream import HEARTBEAT_S, StreamFollower, catch_up
from hub.history import Query, Record

log = logging.getLogger(__name__)

PAGE = 10_000
"""Records read from the log at once when joining a stream under way."""


class Following:
    """This process as a follower: the stream's batches, checked by a `StreamFollower`, reach `member`.

    After a gap, `reconnect_clients` is called once the log has what was missed: this process's clients
    were missing it too, and resume it from the log when they reconnect."""

    def __init__(
        self,
        member: Member,
        log: SharedLog,
        reconnect_clients: Callable[[], Awaitable[object]],
    ) -> None:
        self.log = log
        self.stream = StreamFollower(member.follow, log.written, log.missed, lambda: log.last_seq)
        self._member = member
        self._reconnect_clients = reconnect_clients
        self._batches: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._paused = False
        self._work: set[asyncio.Task[None]] = set()

    def received(self, batch: dict[str, Any]) -> None:
        """A batch of the stream arrived (ignored while this process leads: it is its own)."""
        if not self._paused:
            self._batches.put_nowait(batch)

    def drain(self) -> None:
        """Take what arrived of the stream so far: the last of the old leader's, to write it."""
        while not self._batches.empty():
            self._take(self._batches.get_nowait())

    def pause(self) -> None:
        """This process leads: what still arrives of a stream is not followed."""
        self._paused = True

    def resume(self) -> None:
        """This process no longer leads: follow the next leader's stream (silence is counted from now)."""
        self._paused = False
        self.stream.heard = time.monotonic()

    async def run(self) -> None:
        """Follow the leader's stream: join it where it is, then take each batch as it comes."""
        while True:
            try:
                missing, held = await catch_up(self._batches, lambda: self.log.last_seq, self._read)
                break
            except Exception:  # the log could not be read: try again with the next batches
                log.exception("catching up with the leader's stream failed; retrying")
                await asyncio.sleep(RENEW_S)
        for record in missing:
            if record.seq > self.log.last_seq:
                self._member.follow(record)
        for batch in held:
            self._take(batch)
        while True:
            self._take(await self._batches.get())

    async def stop(self) -> None:
        """Stop what a gap started."""
        await tasks.stop(self._work)

    def _take(self, batch: dict[str, Any]) -> None:
        if not self._paused and not self.stream.receive(batch):
            task = tasks.start(self._after_gap(self.stream.missed_up_to), "reconnect after a gap")
            self._work.add(task)
            task.add_done_callback(self._work.discard)

    async def _read(self, after: int, up_to: int) -> list[Record]:
        records: list[Record] = []
        while True:
            page = await self.log.query(Query(after_seq=after, before_seq=up_to + 1, limit=PAGE))
            records += page
            if len(page) < PAGE:
                return records
            after = page[-1].seq

    async def _after_gap(self, missed_up_to: int) -> None:
        """This process missed part of the stream, up to `missed_up_to`: its clients did too. Once the leader
        has written that far, closing their connections makes them reconnect and resume with `since` from
        the shared log, which then has what they missed."""
        with contextlib.suppress(TimeoutError):  # a leader gone meanwhile: the takeover writes it
            await asyncio.wait_for(self.log.written_up_to(missed_up_to), 10 * HEARTBEAT_S)
        await self._reconnect_clients()
