"""Lookup of what the source supports: telemetry types by id and group, command templates by name."""

from __future__ import annotations

from collections import defaultdict

from hub.templates import CommandTemplate, TelemetryType, Templates


class Catalog:
    def __init__(self, templates: Templates) -> None:
        self.templates = templates
        self.types: dict[str, TelemetryType] = {t.id: t for t in templates.telemetry_types}
        self.commands: dict[str, CommandTemplate] = {c.command: c for c in templates.command_templates}
        groups: defaultdict[str, list[str]] = defaultdict(list)
        for t in templates.telemetry_types:
            if t.group is not None:
                groups[t.group].append(t.id)
        self.groups: dict[str, tuple[str, ...]] = {group: tuple(ids) for group, ids in groups.items()}
