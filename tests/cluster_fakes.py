"""Hand-written fakes for the cluster's unit tests: a clock that moves when told, a database several hub
processes share (and one of them can lose), and a hub process on an in-memory bus."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hub.cluster import Cluster
from hub.cluster.memory_bus import MemoryNetwork
from hub.core import Hub
from hub.history import HistoryLog, Record
from hub.history.base import ChartRequest, Cutoffs, Marks, Query, Reading, Stored, TierStats
from hub.history.memory import MemoryHistory
from hub.history.retention import NO_RETENTION
from tests.fakes import FakeSource, RecordingTransport
from tests.support import eventually

T = TypeVar("T")

SETTLE_TURNS = 50
"""Event loop turns given to woken tasks after each step of the fake clock."""


class FakeClock:
    """Monotonic time that moves only on `advance`; sleepers wake in deadline order, each at its deadline."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    async def advance(self, seconds: float) -> None:
        """Move `seconds` on, waking every sleeper whose deadline passes, and let the woken run."""
        target = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not woken.done():
                woken.set_result(None)
            await settle()
        self.now = target
        await settle()


async def settle() -> None:
    """Let every task that can run, run (a few turns of the event loop)."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


async def started(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`work` as a task that has run up to its first wait (on the fake clock, say)."""
    task = asyncio.create_task(work)
    await settle()
    return task


class SharedDatabase:
    """The log's database as one process reaches it: the records live in `shared`, and every process sees
    the same ones; `broken` makes this process's writes fail (its link to the database is gone)."""

    name = "shared memory"

    def __init__(self, shared: MemoryHistory) -> None:
        self.shared = shared
        self.broken = False

    async def open(self) -> Stored:
        return await self.shared.open()

    async def stored(self) -> Stored:
        return await self.shared.stored()

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        if self.broken:
            raise OSError("the database cannot be reached")
        await self.shared.write(records, marks)

    async def query(self, query: Query) -> list[Record]:
        return await self.shared.query(query)

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        return await self.shared.latest(ids)

    async def read(self, request: ChartRequest) -> Reading:
        return await self.shared.read(request)

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        return await self.shared.delete(before_us)

    async def expire(self, cutoffs: Cutoffs) -> tuple[int, int]:
        return await self.shared.expire(cutoffs)

    async def trim(self, max_bytes: int) -> tuple[int, int]:
        return await self.shared.trim(max_bytes)

    async def tiers(self) -> list[TierStats]:
        return await self.shared.tiers()

    async def close(self, marks: Marks | None) -> None:
        if not self.broken:
            await self.shared.close(marks)


@dataclass
class HubProcess:
    """One hub process of a test's cluster: its hub, cluster, source, transport and database link."""

    name: str
    hub: Hub
    cluster: Cluster
    source: FakeSource
    transport: RecordingTransport
    database: SharedDatabase
    reconnects: list[int] = field(default_factory=list)

    @property
    def delivered(self) -> list[Record]:
        """What its fan-out delivered, in order."""
        return [record for record, _ in self.transport.delivered]


@asynccontextmanager
async def hub_process(
    name: str, network: MemoryNetwork, shared: MemoryHistory, clock: FakeClock, answer_within_s: float = 5.0
) -> AsyncIterator[HubProcess]:
    """A running hub process named `name` on `network`, its log in `shared`, its leases on `clock`."""
    database = SharedDatabase(shared)
    history = HistoryLog(database, flush_interval_s=0.02)
    source, transport = FakeSource(), RecordingTransport()
    hub = Hub(source, history, transport)
    reconnects: list[int] = []

    async def reconnect_clients() -> None:
        reconnects.append(history.last_seq)

    cluster = Cluster(network.bus(name), hub, history, reconnect_clients, clock, answer_within_s)
    async with hub.running(NO_RETENTION, cluster):
        yield HubProcess(name, hub, cluster, source, transport, database, reconnects)


@asynccontextmanager
async def leader_and_follower(
    network: MemoryNetwork, clock: FakeClock, answer_within_s: float = 5.0
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    """Two hub processes sharing one database: `a` started first and leads, `b` follows its stream and
    waits `answer_within_s` for the leader's answers."""
    shared = MemoryHistory()
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(hub_process("a", network, shared, clock, answer_within_s))
        await a.source.started.wait()  # (the source starts once `a` leads)
        b = await stack.enter_async_context(hub_process("b", network, shared, clock, answer_within_s))
        await eventually(lambda: b.cluster.health().leader == "a")
        yield a, b
