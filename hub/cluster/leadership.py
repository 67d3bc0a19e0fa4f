"""Leadership, term by term: the process that holds the lease runs the source, writes the log and streams.

Each time this process gets the lease it starts a term, numbered by a counter on the bus that only goes up
(followers ignore a leader of an older term that has not noticed it was replaced). It takes the log over
from the previous leader, leads until a renewal of the lease fails, then writes what is left and follows
again; it stays a candidate until the cluster is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from hub import tasks
from hub.cluster.bus import Bus
from hub.cluster.clock import SYSTEM_CLOCK, Clock
from hub.cluster.following import Following
from hub.cluster.lease import RENEW_S, Lease
from hub.cluster.member import Member, SharedLog
from hub.cluster.stream import StreamSender
from hub.history.retention import Retention
from hub.templates import Templates

log = logging.getLogger(__name__)

LEASE_KEY = "leader"
TERM_KEY = "term"


class Leadership:
    """This process's candidacy: `contend` runs until cancelled; `leading` is true during a term.

    `share_templates` publishes the catalog to the others as a term starts (they may have missed a change)."""

    def __init__(
        self,
        bus: Bus,
        member: Member,
        log: SharedLog,
        following: Following,
        share_templates: Callable[[Templates], Awaitable[None]],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.bus = bus
        self.member = member
        self.log = log
        self.following = following
        self.lease = Lease(bus, LEASE_KEY, clock)
        self.sender = StreamSender(bus.publish, bus.process, lambda: log.last_seq)
        self.clock = clock
        self.leading = False
        self.term = 0
        self._share_templates = share_templates

    async def contend(self, retention: Retention) -> None:
        """Lead whenever this process gets the lease, and follow in between; until cancelled."""
        while True:
            await self.lease.acquire()
            try:
                await self._lead(retention)
            except Exception:  # a failed takeover or step-down must not end this process's candidacy
                log.exception("leading failed; giving the lease up and following")
                await self.lease.release()
            self.leading = False
            if self.log.writing:
                try:
                    await self.log.step_down()
                except Exception:
                    log.exception("writing the log while stepping down failed")
            self.following.resume()
            log.error("this process no longer leads; it follows the stream of the next leader")
            await self.clock.sleep(RENEW_S)

    async def release(self) -> None:
        """Give the lease up (leaving the cluster), so that another process takes over at once."""
        await self.lease.release()

    async def _lead(self, retention: Retention) -> None:
        """One term: from the lease's acquisition to its loss. The lease is renewed from the start, so a slow
        takeover cannot let it expire unnoticed; the term ends as soon as a renewal fails."""
        self.term = await self.bus.increment(TERM_KEY)
        keeper = tasks.start(self.lease.keep(), "lease renewal")
        log.info("this process leads now (term %d): it runs the source and writes the log", self.term)
        self.following.drain()
        try:
            async with self.member.leading(retention, takeover=True, stream=self.sender):
                self.leading = True
                self.following.pause()
                self.sender.start(self.term)
                self._announce()
                try:
                    await asyncio.wait_for(self._share_templates(self.member.templates), RENEW_S)
                except TimeoutError:  # followers keep their catalog; the next change is shared again
                    log.warning("sharing the templates with the other processes took over %g s", RENEW_S)
                await asyncio.shield(keeper)  # until a renewal fails
        finally:
            await tasks.stop([keeper])
            self.leading = False
            self.following.resume()
            try:  # written first, then streamed: the next leader must find what it is told of in the log
                await self.log.flush()
            finally:  # what the leader published while stopping (failed commands) goes out too, briefly
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.sender.stop(), RENEW_S)

    def _announce(self) -> None:
        previous = self.following.stream.leader
        process = self.bus.process
        self.member.notify(
            "info" if previous is None else "warning",
            "leader_changed",
            f"hub process {process} runs the source now"
            + ("" if previous is None else f", in place of {previous}"),
            details={"process": process, "previous": previous},
        )
