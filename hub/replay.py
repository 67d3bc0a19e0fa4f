"""Resumes: what a client missed after the `seq` it gives as `since`, sent again from the log.

A client that reconnects with `auth.since` is held from the start (it gets no live broadcasts) until its
first subscribe, which replays the broadcasts and data it missed and then lets live messages through; a
subscribe with `since` replays the data of its ids the same way. A replay reads the log outside the fan-out
(hub/fanout.py says why), one at a time per client and at most `max_replays` at once in the hub; the fan-out
keeps what arrives meanwhile, and the client's session sends it after (hub/sessions.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from hub.fanout import FanOut, Transport
from hub.history import HistoryLog, Query, Record

log = logging.getLogger(__name__)

REPLAY_SLICE = 200
"""Replayed messages sent between two turns of the event loop: 10,000 at once held it for about 50 ms."""


class Replay:
    """Who resumes from where, and the replay itself: the log's messages after `since`, in `seq` order."""

    def __init__(
        self,
        history: HistoryLog,
        fanout: FanOut,
        transport: Transport,
        max_replay: int = 10_000,
        max_replays: int = 4,
    ) -> None:
        self.history = history
        self.fanout = fanout
        self.transport = transport
        self.max_replay = max_replay
        self._replays = asyncio.Semaphore(max_replays)
        self._turns: dict[str, asyncio.Lock] = {}
        self._resume_from: dict[str, int] = {}

    def hold(self, client: str, since: int) -> None:
        """`client` connected resuming from `since`: hold its live messages until its first subscribe."""
        self._resume_from[client] = since
        self.fanout.held.add(client)

    def resuming(self, client: str) -> bool:
        """True until the first subscribe of a client that connected with `since`."""
        return client in self._resume_from

    def resumed(self, client: str) -> int | None:
        """The `since` `client` connected with, if it has not subscribed since (then forgotten)."""
        return self._resume_from.pop(client, None)

    def forget(self, client: str) -> None:
        """`client` disconnected."""
        self.fanout.held.discard(client)
        self._resume_from.pop(client, None)
        self._turns.pop(client, None)

    @asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """One replay at a time per client (the others of the same client wait, in order) and at most
        `max_replays` in the hub."""
        async with self._turns.setdefault(client, asyncio.Lock()), self._replays:
            yield

    def unrecoverable(self, since: int) -> str | None:
        """Why the log cannot fill the gap after `since`, if it cannot."""
        if since > self.history.last_seq:
            return f"since {since} is ahead of this hub's log (last seq {self.history.last_seq}); reload"
        if since < self.history.unrecoverable_seq:
            return (
                f"messages up to seq {self.history.unrecoverable_seq} are no longer in the log (cleared, or "
                "lost in a crash); reload from /historical-data"
            )
        return None

    async def send(
        self, client: str, since: int, ids: set[str], until: int, broadcasts: bool
    ) -> tuple[int, str | None]:
        """Send `client`, in seq order, what it missed after `since` up to `until` (what the fan-out had
        delivered when the client was held): data of `ids` and, when `broadcasts`, confirmations and
        notifications. Returns how many were replayed, or a reason why the gap cannot be filled."""
        window = Query(after_seq=since, before_seq=until + 1, limit=self.max_replay + 1)
        records: list[Record] = []
        try:
            if ids:
                records += await self.history.query(replace(window, ids=tuple(ids), types=("data",)))
            if broadcasts:
                records += await self.history.query(replace(window, types=("confirmation", "notification")))
        except Exception:
            log.exception("reading the log to replay to %s failed", client)
            return 0, "the log could not be read for the replay; reload from /historical-data"
        if len(records) > self.max_replay:
            return 0, f"more than {self.max_replay} messages were missed (HUB_MAX_REPLAY); reload"
        for count, record in enumerate(sorted(records, key=lambda r: r.seq), 1):
            await self.transport.send(client, record.type, record.payload)
            if count % REPLAY_SLICE == 0:
                await asyncio.sleep(0)  # let live delivery run between slices
        return len(records), None
