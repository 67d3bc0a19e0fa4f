"""The hub's core: everything between the source, the log and the clients, with no transport in it.

Every message gets its `seq` from the log and goes through one fan-out queue, consumed by one task, so each
client receives live messages in `seq` order. Subscription changes go through the same queue, so the last
value sent on subscribe can never overtake, or be overtaken by, a live value of the same id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hub.catalog import Catalog
from hub.commands import CommandTracker, PendingCommand, new_command_id, validate
from hub.errors import HubError, SourceUnavailable
from hub.history import HistoryLog, Record
from hub.limits import LimitMonitor
from hub.messages import (
    TERMINAL_STATUSES,
    CommandAck,
    CommandRequest,
    CommandStatus,
    Confirmation,
    DataMessage,
    Level,
    Message,
    Notification,
    SubscribeAck,
    SubscriptionRequest,
    UnsubscribeAck,
    format_timestamp,
    to_micros,
)
from hub.source import Source, SourceCommand, SourceStatus
from hub.subscriptions import Subscriptions
from hub.supervisor import Supervisor
from hub.templates import Value

log = logging.getLogger(__name__)

Payload = dict[str, Any]


class Transport(Protocol):
    """How the core reaches clients; the Socket.IO layer implements it."""

    async def deliver(self, message: Message, payload: Payload) -> None:
        """Data to the subscribers of its id; confirmations and notifications to every client."""
        ...

    async def send(self, client: str, payload: Payload) -> None:
        """A data message to one client."""
        ...

    async def join(self, client: str, ids: Iterable[str]) -> None: ...

    async def leave(self, client: str, ids: Iterable[str]) -> None: ...


@dataclass
class _Operation:
    call: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Hub:
    def __init__(self, source: Source, history: HistoryLog, transport: Transport) -> None:
        self.source = source
        self.history = history
        self.transport = transport
        self.catalog = Catalog(source.templates)
        self.subscriptions = Subscriptions(self.catalog)
        self.clients: set[str] = set()
        self.commands = CommandTracker()
        self.supervisor = Supervisor(source, self)
        self.started = time.time()
        self.rejected_values = 0
        self._limits = LimitMonitor(self.catalog.types)
        self._latest: dict[str, Payload] = {}
        self._queue: asyncio.Queue[tuple[Message, Payload] | _Operation] = asyncio.Queue()
        self._executions: set[asyncio.Task[None]] = set()
        self._warned: set[str] = set()
        self._fan_out_task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self, retention_s: float | None = None) -> AsyncIterator[Hub]:
        """Open the log, start the fan-out, the log writer and the source; stop them all on exit."""
        await self.history.open()
        for record in await self.history.latest(list(self.catalog.types)):
            self._latest[record.id or ""] = json.loads(record.payload)
        self._fan_out_task = _start(self._fan_out(), "fan-out")
        tasks = [
            self._fan_out_task,
            _start(self.history.run(), "history writer"),
            _start(self.supervisor.run(), "source"),
        ]
        if retention_s is not None:
            tasks.append(_start(self._expire_history(retention_s), "retention"))
        try:
            yield self
        finally:
            await _stop(tasks[2:])
            for pending in self.commands.pending():
                if self.commands.finish(pending.command_id, "hub"):
                    self._confirm(pending, "failed", "the hub shut down before the device confirmed")
            await _stop(self._executions)
            await self._drain()
            await _stop(tasks[:2])
            await self.history.close()

    async def _drain(self) -> None:
        """Deliver what is queued, so clients still connected see the last messages."""
        stop = _Operation(_nothing)
        self._queue.put_nowait(stop)
        await asyncio.wait_for(asyncio.shield(stop.done), timeout=5)

    async def _fan_out(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Operation):
                try:
                    result = await item.call()
                except Exception as error:
                    if not item.done.done():
                        item.done.set_exception(error)
                else:
                    if not item.done.done():
                        item.done.set_result(result)
                continue
            message, payload = item
            if message.type == "data":
                self._latest[message.id] = payload
            try:
                await self.transport.deliver(message, payload)
            except Exception:
                log.exception("delivering seq %d failed", message.seq)

    async def _serialized(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run `call` in the fan-out task, between two deliveries (directly once the fan-out has stopped)."""
        if self._fan_out_task is None or self._fan_out_task.done():
            return await call()
        operation = _Operation(call)
        self._queue.put_nowait(operation)
        return await operation.done

    async def _expire_history(self, retention_s: float) -> None:
        while True:
            deleted = await self.history.delete(int((time.time() - retention_s) * 1e6))
            if deleted:
                log.info("retention: deleted %d messages older than %g s", deleted, retention_s)
            await asyncio.sleep(min(retention_s, 60))

    # --- publishing --------------------------------------------------------------------------------------

    def _publish(self, message: Message, time_us: int) -> None:
        payload = message.model_dump(exclude_none=True)
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        telemetry_id = getattr(message, "id", None)
        self.history.append(Record(message.seq, message.type, telemetry_id, time_us, text))
        self._queue.put_nowait((message, payload))

    def notify(
        self,
        level: Level,
        code: str,
        message: str,
        id: str | None = None,
        details: dict[str, Any] | None = None,
        time_us: int | None = None,
    ) -> Notification:
        now = to_micros(time.time()) if time_us is None else time_us
        notification = Notification(
            level=level,
            code=code,
            message=message,
            id=id,
            details=details,
            timestamp=format_timestamp(now),
            seq=self.history.next_seq(),
        )
        self._publish(notification, now)
        return notification

    def _confirm(
        self,
        pending: PendingCommand,
        status: CommandStatus,
        message: str,
        parameters: dict[str, Value] | None = None,
    ) -> Confirmation:
        now = to_micros(time.time())
        confirmation = Confirmation(
            command_id=pending.command_id,
            command=pending.command,
            request_id=pending.request_id,
            status=status,
            message=message,
            parameters=parameters,
            timestamp=format_timestamp(now),
            seq=self.history.next_seq(),
        )
        self._publish(confirmation, now)
        return confirmation

    # --- SourceEvents: what the source reports ------------------------------------------------------------

    def telemetry(self, id: str, value: Value, timestamp: float) -> None:
        telemetry_type = self.catalog.types.get(id)
        if telemetry_type is None:
            self._reject(id, f"the source produced unknown telemetry type {id!r}")
            return
        try:
            checked = telemetry_type.coerce(value)
        except ValueError as error:
            self._reject(id, f"the source produced a bad value for {id}: {error}")
            return
        time_us = to_micros(timestamp)
        message = DataMessage.model_construct(
            id=id, value=checked, timestamp=format_timestamp(time_us), seq=self.history.next_seq()
        )
        self._publish(message, time_us)
        transition = self._limits.check(id, checked)
        if transition is not None:
            self.notify(
                transition.level,
                transition.code,
                transition.message,
                id=id,
                details={
                    "state": transition.state,
                    "previous": transition.previous,
                    "value": transition.value,
                },
                time_us=time_us,
            )

    def notification(self, level: Level, code: str, message: str, id: str | None = None) -> None:
        self.notify(level, code, message, id=id)

    def _reject(self, key: str, reason: str) -> None:
        self.rejected_values += 1
        if key not in self._warned and len(self._warned) < 1000:  # a broken sensor must not flood the log
            self._warned.add(key)
            log.warning("%s (further ones are counted, not logged)", reason)

    def confirmation(self, command_id: str, status: SourceStatus, message: str) -> None:
        pending = self.commands.get(command_id)
        if pending is None:
            self._confirmation_after_end(command_id, status, message)
            return
        if status in TERMINAL_STATUSES:
            self.commands.finish(command_id, "source")
        self._confirm(pending, status, message)

    def _confirmation_after_end(self, command_id: str, status: str, message: str) -> None:
        ended = self.commands.ended(command_id)
        details: dict[str, Any] = {"command_id": command_id, "status": status, "message": message}
        if ended is not None and ended.ended_by == "timeout":
            details |= {"command": ended.command, "request_id": ended.request_id}
            text = f"{ended.command} reported {status} after the hub timed it out: {message}"
            self.notify("warning", "late_confirmation", text, details=details)
        else:
            text = f"the source reported {status} for a command that is not pending: {message}"
            self.notify("warning", "unexpected_confirmation", text, details=details)

    # --- client requests ---------------------------------------------------------------------------------

    def connect(self, client: str) -> None:
        self.clients.add(client)

    async def disconnect(self, client: str) -> None:
        self.clients.discard(client)

        async def apply() -> None:
            self.subscriptions.drop(client)

        await self._serialized(apply)

    async def subscribe(self, client: str, request: SubscriptionRequest) -> SubscribeAck:
        ids = self.subscriptions.resolve(request)

        async def apply() -> SubscribeAck:
            if client in self.clients:
                new = self.subscriptions.add(client, ids)
                await self.transport.join(client, new)
                for payload in sorted((self._latest[i] for i in new if i in self._latest), key=_seq):
                    await self.transport.send(client, payload)
            return SubscribeAck(subscribed=sorted(self.subscriptions.of(client)))

        result: SubscribeAck = await self._serialized(apply)
        return result

    async def unsubscribe(self, client: str, request: SubscriptionRequest) -> UnsubscribeAck:
        ids = self.subscriptions.resolve(request)

        async def apply() -> UnsubscribeAck:
            removed = self.subscriptions.remove(client, ids)
            await self.transport.leave(client, removed)
            return UnsubscribeAck(
                unsubscribed=sorted(removed), subscribed=sorted(self.subscriptions.of(client))
            )

        result: UnsubscribeAck = await self._serialized(apply)
        return result

    async def command(self, request: CommandRequest) -> CommandAck:
        """Validate, log (durably, before the ack), confirm `accepted` to all, and hand to the source."""
        template, parameters = validate(request, self.catalog)
        if self.supervisor.state != "running":
            raise SourceUnavailable(f"the source is {self.supervisor.state}; the command was not sent")
        pending = PendingCommand(new_command_id(), template.command, request.request_id)
        accepted = self._confirm(pending, "accepted", f"{template.command} accepted", parameters)
        self.commands.start(pending, template.timeout_s, self._timed_out)
        try:
            await self.history.flush()
        except Exception as error:
            if self.commands.finish(pending.command_id, "hub"):
                self._confirm(pending, "failed", "not sent: the history log could not be written")
            raise HubError("the command could not be written to the history log; it was not sent") from error
        execution = asyncio.create_task(
            self._execute(SourceCommand(pending.command_id, template.command, parameters))
        )
        self._executions.add(execution)
        execution.add_done_callback(self._executions.discard)
        return CommandAck(command_id=pending.command_id, request_id=request.request_id, seq=accepted.seq)

    async def _execute(self, command: SourceCommand) -> None:
        try:
            await self.source.execute(command)
        except Exception as error:
            log.warning("the source refused %s: %s", command.command, error)
            pending = self.commands.finish(command.command_id, "source")
            if pending is not None:
                self._confirm(pending, "failed", f"the source refused it: {error}")

    def _timed_out(self, pending: PendingCommand) -> None:
        template = self.catalog.commands[pending.command]
        self._confirm(pending, "timeout", f"no result from the device within {template.timeout_s:g} s")

    # --- state --------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        history = self.history.stats()
        problems = []
        if self.supervisor.state != "running":
            problems.append(f"source {self.supervisor.state}")
        if history["error"]:
            problems.append(f"history cannot write: {history['error']}")
        status: Literal["ok", "degraded"] = "degraded" if problems else "ok"
        return {
            "status": status,
            "reason": "; ".join(problems) or None,
            "uptime_s": round(time.time() - self.started, 3),
            "clients": len(self.clients),
            "source": {
                "name": self.source.name,
                "state": self.supervisor.state,
                "error": self.supervisor.error,
            },
            "history": history,
            "pending_commands": len(self.commands),
            "rejected_values": self.rejected_values,
        }


def _seq(payload: Payload) -> int:
    seq: int = payload["seq"]
    return seq


async def _nothing() -> None:
    return None


def _start(coroutine: Awaitable[None], name: str) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coroutine)
    task.set_name(name)
    task.add_done_callback(_report_crash)
    return task


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("the %s task died", task.get_name(), exc_info=task.exception())


async def _stop(tasks: Iterable[asyncio.Task[None]]) -> None:
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
