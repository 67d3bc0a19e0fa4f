"""The fan-out: one task that delivers every message to clients in `seq` order.

Messages are queued the moment they get their `seq` and delivered by a single consumer, so no client can see
them out of order. Subscription changes run in the same task between two deliveries, so the latest value sent
on subscribe can never cross a live value of the same id. The fan-out also keeps those latest values.

A replay (a resume) runs outside this task, so that reading the log and sending what a client missed never
delays live delivery to the others: one client's 3,000 pipelined resumes, run inside it, stalled every other
client's stream for up to 45 s. Meanwhile the client is `held` (it gets nothing live) and the fan-out keeps
what it would have got in a `CatchUp`, sent after the replay: the client still sees one stream in `seq` order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hub import tasks
from hub.errors import HubError
from hub.history import Record

log = logging.getLogger(__name__)

T = TypeVar("T")


class Transport(Protocol):
    """How the core reaches clients; the Socket.IO layer implements it."""

    async def deliver(self, record: Record, skip: Collection[str]) -> None:
        """Data to the subscribers of its id, confirmations and notifications to all clients; none to `skip`.

        `record.payload` is the message's JSON, encoded once for the log and every recipient."""
        ...

    async def send(self, client: str, event: str, text: str) -> None:
        """One message to one client."""
        ...

    async def join(self, client: str, ids: Iterable[str]) -> None: ...

    async def leave(self, client: str, ids: Iterable[str]) -> None: ...


@dataclass(eq=False)
class CatchUp:
    """What the fan-out delivered after `mark` while `client` was held for a replay: its data (of the ids in
    `ids`, the client's live subscription set) and every broadcast, up to `limit` messages."""

    client: str
    ids: set[str]
    limit: int
    mark: int
    missed: list[Record] = field(default_factory=list)
    overflowed: bool = False

    def note(self, record: Record) -> None:
        if record.type == "data" and record.id not in self.ids:
            return
        if len(self.missed) >= self.limit:
            self.overflowed = True
        else:
            self.missed.append(record)


@dataclass
class _Operation:
    call: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class FanOut:
    """The one task that delivers every message in `seq` order, runs subscription changes between two
    deliveries (`serialized`), keeps each id's latest value, and holds a client during its replay."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.latest: dict[str, tuple[int, str]] = {}
        """The seq and JSON of the last data message delivered, per telemetry id."""
        self.delivered_seq = 0
        """The seq of the last message taken for delivery: all up to it has gone out, the rest is queued."""
        self.held: set[str] = set()
        """Clients that receive nothing until their replay has sent what they missed."""
        self._catch_ups: list[CatchUp] = []
        self._queue: asyncio.Queue[Record | _Operation] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        """Messages and operations waiting to be delivered."""
        return self._queue.qsize()

    def start(self) -> None:
        self._task = tasks.start(self._run(), "fan-out")

    async def stop(self) -> None:
        """Stop delivering; operations still queued fail, so nobody waits for them forever."""
        if self._task is not None:
            await tasks.stop([self._task])
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Operation) and not item.done.done():
                item.done.set_exception(HubError("the hub is shutting down"))

    def publish(self, record: Record) -> None:
        """Queue a message, as logged, for delivery. Never blocks."""
        self._queue.put_nowait(record)

    async def serialized(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call` in the fan-out task, between two deliveries (directly when the fan-out is not running).

        `call` must not wait for the fan-out itself: it runs inside it."""
        if self._task is None or self._task.done():
            return await call()
        operation = _Operation(call)
        self._queue.put_nowait(operation)
        result: T = await operation.done
        return result

    def catch_up(self, client: str, ids: set[str], limit: int) -> CatchUp:
        """Hold `client` and keep what it would get from now on, until `caught_up`. Call it in the fan-out
        (from `serialized`), so that `mark`, the last seq delivered, is exact."""
        catch_up = CatchUp(client, ids, limit, self.delivered_seq)
        self.held.add(client)
        self._catch_ups.append(catch_up)
        return catch_up

    def caught_up(self, catch_up: CatchUp) -> None:
        """Stop holding the client and keeping its messages (call it in the fan-out, then send them)."""
        self._catch_ups.remove(catch_up)
        self.held.discard(catch_up.client)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Operation):
                await _settle(item)
                continue
            self.delivered_seq = item.seq
            if item.type == "data":
                self.latest[item.id or ""] = (item.seq, item.payload)
            try:
                await self.transport.deliver(item, self.held)
            except Exception:
                log.exception("delivering seq %d failed", item.seq)
            for catch_up in self._catch_ups:
                catch_up.note(item)


async def _settle(operation: _Operation) -> None:
    try:
        result = await operation.call()
    except Exception as error:
        if not operation.done.done():
            operation.done.set_exception(error)
    else:
        if not operation.done.done():
            operation.done.set_result(result)
