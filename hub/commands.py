"""Commands: validation against their templates, and tracking until each ends in one terminal status."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hub.catalog import Catalog
from hub.errors import InvalidParameters, UnknownCommand
from hub.messages import CommandRequest
from hub.templates import CommandTemplate, Value


def validate(request: CommandRequest, catalog: Catalog) -> tuple[CommandTemplate, dict[str, Value]]:
    """The command's template and its checked parameters, defaults filled in.

    Raises UnknownCommand, or InvalidParameters whose details map each bad parameter to the reason."""
    template = catalog.commands.get(request.command)
    if template is None:
        raise UnknownCommand(f"unknown command {request.command!r}", {"known": sorted(catalog.commands)})
    known = {p.name: p for p in template.parameters}
    problems = {name: "unknown parameter" for name in request.parameters if name not in known}
    checked: dict[str, Value] = {}
    for name, parameter in known.items():
        if name in request.parameters:
            try:
                checked[name] = parameter.check(request.parameters[name])
            except ValueError as error:
                problems[name] = str(error)
        elif parameter.required:
            problems[name] = "required parameter is missing"
        elif parameter.default is not None:
            checked[name] = parameter.default
    if problems:
        listed = ", ".join(f"{name}: {reason}" for name, reason in sorted(problems.items()))
        raise InvalidParameters(f"invalid parameters for {request.command}: {listed}", problems)
    return template, checked


def new_command_id() -> str:
    return uuid.uuid4().hex


@dataclass
class PendingCommand:
    """A command the hub accepted: its ids, its timeout's timer, and who ended it, once it has ended."""

    command_id: str
    command: str
    request_id: str | None
    deadline: asyncio.TimerHandle | None = field(default=None, repr=False)
    ended_by: Literal["source", "timeout", "hub"] | None = None
    accepted_at: float = field(default_factory=time.monotonic, repr=False)
    """When the hub accepted it (`time.monotonic()`), for its latency."""


ENDED_REMEMBERED = 10_000
"""Ended commands kept to recognise a device result that arrives after the hub's timeout."""


class CommandTracker:
    """Commands accepted and not yet ended; each has a timer that fires the hub's `timeout`."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingCommand] = {}
        self._ended: OrderedDict[str, PendingCommand] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def start(
        self, pending: PendingCommand, timeout_s: float, on_timeout: Callable[[PendingCommand], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        pending.deadline = loop.call_later(timeout_s, self._expire, pending.command_id, on_timeout)
        self._pending[pending.command_id] = pending

    def get(self, command_id: str) -> PendingCommand | None:
        return self._pending.get(command_id)

    def ended(self, command_id: str) -> PendingCommand | None:
        """A recently ended command, with `ended_by` saying how it ended."""
        return self._ended.get(command_id)

    def finish(self, command_id: str, by: Literal["source", "timeout", "hub"]) -> PendingCommand | None:
        """End the command (its terminal status has come); None when it is not pending."""
        pending = self._pending.pop(command_id, None)
        if pending is not None:
            if pending.deadline is not None:
                pending.deadline.cancel()
            pending.ended_by = by
            self._ended[command_id] = pending
            if len(self._ended) > ENDED_REMEMBERED:
                self._ended.popitem(last=False)
        return pending

    def pending(self) -> list[PendingCommand]:
        return list(self._pending.values())

    def _expire(self, command_id: str, on_timeout: Callable[[PendingCommand], None]) -> None:
        pending = self.finish(command_id, "timeout")
        if pending is not None:
            on_timeout(pending)
