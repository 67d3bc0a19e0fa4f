"""A command's life in the hub: accepted (logged durably before the ack), handed to the source, and ended
exactly once, by the source's result, the template's timeout, or the hub shutting down.

Every step is a confirmation every client gets. A process that takes over from another one carries on the
commands that one accepted and did not see end (`carry_on`), so that each still ends exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, cast, get_args

from hub import codec, tasks
from hub.catalog import Catalog
from hub.commands import CommandTracker, PendingCommand, new_command_id
from hub.errors import HubError
from hub.history import HistoryLog, Query
from hub.messages import TERMINAL_STATUSES, CommandAck, CommandStatus, SourceStatus, to_micros
from hub.publisher import Publisher
from hub.sources.base import Source, SourceCommand
from hub.templates import CommandTemplate, Value

log = logging.getLogger(__name__)


class CommandLifecycle:
    """Sends validated commands to the source and ends each one exactly once, publishing every step.

    `on_ended(status, seconds)` is told of every command's end and how long after its acceptance (the
    metrics count and time them)."""

    def __init__(
        self,
        catalog: Catalog,
        source: Source,
        history: HistoryLog,
        publisher: Publisher,
        on_ended: Callable[[CommandStatus, float], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.source = source
        self.history = history
        self.publisher = publisher
        self._on_ended = on_ended
        self._tracker = CommandTracker()
        self._executions: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Commands accepted and not ended yet."""
        return len(self._tracker)

    def get(self, command_id: str) -> PendingCommand | None:
        """The pending command `command_id`; None once it has ended (or if it never existed)."""
        return self._tracker.get(command_id)

    async def execute(
        self, template: CommandTemplate, parameters: dict[str, Value], request_id: str | None
    ) -> CommandAck:
        """Accept a validated command: log it (durably, before the ack), confirm `accepted` to all, and hand
        it to the source."""
        pending = PendingCommand(new_command_id(), template.command, request_id)
        accepted = self.publisher.confirmation(
            pending, "accepted", f"{template.command} accepted", parameters
        )
        self._tracker.start(pending, template.timeout_s, self._timed_out)
        try:
            await self.history.flush()
        except Exception as error:
            if self._tracker.finish(pending.command_id, "hub"):
                self._end(pending, "failed", "not sent: the history log could not be written")
            raise HubError("the command could not be written to the history log; it was not sent") from error
        execution = tasks.start(
            self._hand_over(SourceCommand(pending.command_id, template.command, parameters)), "command"
        )
        self._executions.add(execution)
        execution.add_done_callback(self._executions.discard)
        return CommandAck(command_id=pending.command_id, request_id=request_id, seq=accepted.seq)

    def confirmation(self, command_id: str, status: str, message: str) -> None:
        """The source reports a step of a command: `executing`, or its end."""
        if status not in get_args(SourceStatus):
            log.warning("the source reported status %r for %s; ignored", status, command_id)
            return
        pending = self._tracker.get(command_id)
        if pending is None:
            self._confirmation_after_end(command_id, status, str(message))
            return
        if status in TERMINAL_STATUSES:
            self._end(pending, cast(SourceStatus, status), str(message))
            self._tracker.finish(command_id, "source")
        else:
            self.publisher.confirmation(pending, cast(SourceStatus, status), str(message))

    async def carry_on(self) -> None:
        """Track again, for the rest of their timeout, the commands the previous leading process accepted and
        did not see end (the log tells them)."""
        longest = max((c.timeout_s for c in self.catalog.commands.values()), default=0.0)
        now_us = to_micros(time.time())
        window = Query(types=("confirmation",), start_us=now_us - to_micros(longest + 1), limit=100_000)
        steps: dict[str, dict[str, Any]] = {}
        for record in await self.history.query(window):
            step = codec.loads(record.payload)
            if step["status"] == "accepted":
                steps[step["command_id"]] = step | {"time_us": record.time_us}
            elif step["status"] in TERMINAL_STATUSES:
                steps.pop(step["command_id"], None)
        for step in steps.values():
            accepted_at = time.monotonic() - (now_us - step["time_us"]) / 1e6
            pending = PendingCommand(
                step["command_id"], step["command"], step.get("request_id"), accepted_at=accepted_at
            )
            if self._tracker.get(pending.command_id) is not None:
                continue
            template = self.catalog.commands.get(pending.command)
            timeout_s = 0.0 if template is None else template.timeout_s
            left = timeout_s - (now_us - step["time_us"]) / 1e6
            log.info("tracking %s %s, accepted by the previous leader", pending.command, pending.command_id)
            self._tracker.start(pending, max(left, 0.0), self._timed_out)

    async def stop(self) -> None:
        """The source has stopped: commands still pending fail (nobody would report their end), and what is
        being handed to the source is cancelled."""
        for pending in self._tracker.pending():
            if self._tracker.finish(pending.command_id, "hub"):
                self._end(pending, "failed", "the hub shut down before the device confirmed")
        await tasks.stop(self._executions)

    async def _hand_over(self, command: SourceCommand) -> None:
        try:
            await self.source.execute(command)
        except Exception as error:
            log.warning("the source refused %s: %s", command.command, error)
            pending = self._tracker.get(command.command_id)
            if pending is not None:
                self._end(pending, "failed", f"the source refused it: {error}")
                self._tracker.finish(command.command_id, "source")

    def _timed_out(self, pending: PendingCommand) -> None:
        template = self.catalog.commands.get(pending.command)  # its device may have withdrawn it since
        within = "" if template is None else f" within {template.timeout_s:g} s"
        self._end(pending, "timeout", f"no result from the device{within}")

    def _confirmation_after_end(self, command_id: str, status: str, message: str) -> None:
        ended = self._tracker.ended(command_id)
        details: dict[str, Any] = {"command_id": command_id, "status": status, "message": message}
        if ended is not None and ended.ended_by == "timeout":
            details |= {"command": ended.command, "request_id": ended.request_id}
            text = f"{ended.command} reported {status} after the hub timed it out: {message}"
            self.publisher.notification("warning", "late_confirmation", text, details=details)
        else:
            text = f"the source reported {status} for a command that is not pending: {message}"
            self.publisher.notification("warning", "unexpected_confirmation", text, details=details)

    def _end(self, pending: PendingCommand, status: CommandStatus, message: str) -> None:
        """Publish a command's terminal confirmation; count it and log it with its latency."""
        self.publisher.confirmation(pending, status, message)
        seconds = time.monotonic() - pending.accepted_at
        if self._on_ended is not None:
            self._on_ended(status, seconds)
        log.info(
            "command %s %s %s after %.3f s: %r", pending.command, pending.command_id, status, seconds, message
        )
