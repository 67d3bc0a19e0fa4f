"""The fan-out: one task that delivers every message to clients in `seq` order.

Messages are queued the moment they get their `seq` and delivered by a single consumer, so no client can see
them out of order. Subscription changes run in the same task between two deliveries, so the latest value sent
on subscribe can never cross a live value of the same id. The fan-out also keeps those latest values.
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
        """Data to the subscribers of its id; confirmations and notifications to all clients but `skip`.

        `record.payload` is the message's JSON, encoded once for the log and every recipient."""
        ...

    async def send(self, client: str, event: str, text: str) -> None:
        """One message to one client."""
        ...

    async def join(self, client: str, ids: Iterable[str]) -> None: ...

    async def leave(self, client: str, ids: Iterable[str]) -> None: ...


@dataclass
class _Operation:
    call: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class FanOut:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.latest: dict[str, tuple[int, str]] = {}
        """The seq and JSON of the last data message delivered, per telemetry id."""
        self.delivered_seq = 0
        """The seq of the last message taken for delivery: all up to it has gone out, the rest is queued."""
        self.held: set[str] = set()
        """Clients that receive no broadcasts until their resume has replayed what they missed."""
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


async def _settle(operation: _Operation) -> None:
    try:
        result = await operation.call()
    except Exception as error:
        if not operation.done.done():
            operation.done.set_exception(error)
    else:
        if not operation.done.done():
            operation.done.set_result(result)
