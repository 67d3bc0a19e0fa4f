"""The interface between the hub and a telemetry source (the simulator, a device gateway, ...).

A source says which telemetry types and commands it supports, produces telemetry and notifications while
`run` is active, and executes commands, reporting their progress with its own timing. The hub never imports a
concrete source except through `hub.sources`, the registry `HUB_SOURCE` selects from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hub.messages import Level
from hub.messages import SourceStatus as SourceStatus  # sources name it from here
from hub.templates import Templates, Value


@dataclass(frozen=True, slots=True)
class SourceCommand:
    """A validated command, handed to the source: parameters have their template types and defaults."""

    command_id: str
    command: str
    parameters: Mapping[str, Value]


class SourceEvents(Protocol):
    """What the hub offers a source to report with. The calls never block and may come at any rate."""

    def telemetry(self, id: str, value: Value, timestamp: float) -> None:
        """A value of telemetry type `id`, produced at `timestamp` (seconds since the epoch)."""
        ...

    def confirmation(self, command_id: str, status: SourceStatus, message: str) -> None:
        """Progress of a command: `executing`, then `completed` or `failed` with a reason."""
        ...

    def notification(self, level: Level, code: str, message: str, id: str | None = None) -> None: ...


class CatalogEvents(SourceEvents, Protocol):
    """What the hub offers every source: SourceEvents, plus a way to change its templates while it runs.

    A source whose devices announce themselves at run time (MQTT) calls `templates_changed`; a source with
    fixed templates never does, and may declare its `run` with the narrower SourceEvents."""

    def templates_changed(self, templates: Templates) -> None:
        """From now on the source supports exactly `templates` (telemetry types and commands), in place of
        what `Source.templates` said before; the hub's catalog follows and clients are told to refetch."""
        ...


class Source(Protocol):
    name: str

    @property
    def templates(self) -> Templates:
        """The telemetry types and command templates this source supports (at start-up, for a source
        whose templates change at run time: it reports changes with `CatalogEvents.templates_changed`)."""
        ...

    async def run(self, events: CatalogEvents) -> None:
        """Produce telemetry through `events` until cancelled; raise if the source fails."""
        ...

    async def execute(self, command: SourceCommand) -> None:
        """Start executing `command`; report progress through the `events` given to `run`.

        Raise to refuse it outright (the hub reports it as failed)."""
        ...


@runtime_checkable
class DeviceChecks(Protocol):
    """A source that checks every message its devices send and refuses the bad ones (the MQTT source); the
    hub shows its counts in `/health` and `/metrics`."""

    def rejected_device_messages(self) -> Mapping[str, Mapping[str, int]]:
        """Device messages refused since start-up, device -> reason -> count: a copy, with a bounded number
        of devices and a closed set of reasons (they become metric labels)."""
        ...
