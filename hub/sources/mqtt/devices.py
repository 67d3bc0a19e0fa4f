"""The devices the MQTT source knows: what each announced, who owns which telemetry id and command.

The hub's templates are the union of every accepted announcement. A telemetry id or command name belongs
to the first device that announced it: a later announcement that claims one is refused whole (the device
keeps what it had announced before, if anything) and is tried again whenever another device withdraws or
changes its own, so the conflict resolves itself once the first owner lets go. Within one run the first
announcement received wins; after a restart the broker replays retained announcements in its own order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from hub.sources.mqtt.protocol import Status
from hub.templates import TelemetryType, Templates

log = logging.getLogger(__name__)

EMPTY = Templates(telemetry_types=(), command_templates=())


class Devices:
    def __init__(self) -> None:
        self.templates = EMPTY
        """The union of every accepted announcement, in the order the devices were accepted."""
        self.status: dict[str, Status] = {}
        self._announced: dict[str, Templates] = {}
        self._refused: dict[str, Templates] = {}
        self._types: dict[str, dict[str, TelemetryType]] = {}
        self._type_owners: dict[str, str] = {}
        self._command_owners: dict[str, str] = {}

    def announce(self, device: str, templates: Templates) -> str | None:
        """Accept `device`'s announcement in place of its previous one, or return why it is refused (a
        telemetry id or command already owned by another device)."""
        conflict = self._conflict(device, templates)
        if conflict is not None:
            self._refused[device] = templates
            return conflict
        self._refused.pop(device, None)
        previous = self._announced.get(device)
        self._announced[device] = templates
        self._rebuild()
        if previous is not None:
            self._retry_refused()
        return None

    def withdraw(self, device: str) -> None:
        """Forget `device`'s announcement (its retained one was cleared): its ids and commands are free."""
        self._refused.pop(device, None)
        if self._announced.pop(device, None) is not None:
            self._rebuild()
            self._retry_refused()

    def telemetry_type(self, device: str, id: str) -> TelemetryType | None:
        """The type `device` announced for `id`, or None."""
        types = self._types.get(device)
        return None if types is None else types.get(id)

    def owner_of_command(self, command: str) -> str | None:
        return self._command_owners.get(command)

    def announced(self, device: str) -> bool:
        return device in self._announced

    def refused(self, device: str) -> bool:
        """Whether `device`'s latest announcement was refused for a conflict (it waits to be retried)."""
        return device in self._refused

    def set_status(self, device: str, status: Status | None) -> bool:
        """Record `device`'s status (None: its retained status was cleared); True if it changed."""
        if status is None:
            self.status.pop(device, None)
            return False
        changed = self.status.get(device) != status
        self.status[device] = status
        return changed

    def _conflict(self, device: str, templates: Templates) -> str | None:
        for kind, names, owners in (
            ("telemetry id", (t.id for t in templates.telemetry_types), self._type_owners),
            ("command", (c.command for c in templates.command_templates), self._command_owners),
        ):
            taken = _taken(device, names, owners)
            if taken is not None:
                return f"{kind} {taken!r} is already announced by device {owners[taken]!r}"
        return None

    def _rebuild(self) -> None:
        self._types = {d: {t.id: t for t in a.telemetry_types} for d, a in self._announced.items()}
        self._type_owners = {id: d for d, types in self._types.items() for id in types}
        self._command_owners = {c.command: d for d, a in self._announced.items() for c in a.command_templates}
        self.templates = Templates(
            telemetry_types=tuple(t for a in self._announced.values() for t in a.telemetry_types),
            command_templates=tuple(c for a in self._announced.values() for c in a.command_templates),
        )

    def _retry_refused(self) -> None:
        for device, templates in list(self._refused.items()):
            if self._conflict(device, templates) is None:
                log.info("device %s: its announcement no longer conflicts and is accepted", device)
                self.announce(device, templates)


def _taken(device: str, names: Iterable[str], owners: dict[str, str]) -> str | None:
    return next((name for name in names if owners.get(name, device) != device), None)
