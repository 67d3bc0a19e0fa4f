"""Lookup of what the source supports: telemetry types by id and group, command templates by name.

One Catalog lives as long as the hub; subscriptions, command validation and the HTTP API all hold it. A
source whose devices announce themselves at run time changes it with `replace`, in place, so every holder
sees the new templates at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.templates import CommandTemplate, TelemetryType, Templates


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """What a `replace` changed: telemetry ids and command names added, removed, or redefined."""

    added_types: tuple[str, ...] = ()
    removed_types: tuple[str, ...] = ()
    changed_types: tuple[str, ...] = ()
    added_commands: tuple[str, ...] = ()
    removed_commands: tuple[str, ...] = ()
    changed_commands: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__slots__)

    def details(self) -> dict[str, Any]:
        """The non-empty lists, for a notification's `details`."""
        return {name: list(getattr(self, name)) for name in self.__slots__ if getattr(self, name)}


class Catalog:
    """The source's templates, indexed: telemetry types by id, their groups, command templates by name."""

    templates: Templates
    types: dict[str, TelemetryType]
    commands: dict[str, CommandTemplate]
    groups: dict[str, tuple[str, ...]]

    def __init__(self, templates: Templates) -> None:
        self.types, self.commands = {}, {}
        self.replace(templates)

    def replace(self, templates: Templates) -> CatalogChange:
        """Take `templates` in place of the current ones; return what changed (falsy when nothing did)."""
        old_types, old_commands = self.types, self.commands
        types = {t.id: t for t in templates.telemetry_types}
        commands = {c.command: c for c in templates.command_templates}
        groups: defaultdict[str, list[str]] = defaultdict(list)
        for t in templates.telemetry_types:
            if t.group is not None:
                groups[t.group].append(t.id)
        self.templates = templates
        self.types, self.commands = types, commands
        self.groups = {group: tuple(ids) for group, ids in groups.items()}
        return CatalogChange(*_diff(old_types, types), *_diff(old_commands, commands))


def _diff(
    old: Mapping[str, object], new: Mapping[str, object]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(added, removed, redefined) keys, each sorted."""
    added = tuple(sorted(new.keys() - old.keys()))
    removed = tuple(sorted(old.keys() - new.keys()))
    changed = tuple(sorted(k for k in new.keys() & old.keys() if new[k] != old[k]))
    return added, removed, changed
