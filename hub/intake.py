"""What the source reports, checked before it becomes a message: the source's `CatalogEvents`.

Values are checked against their telemetry types (the bad ones counted, and logged once per id), watched
against their limits (a crossing becomes a notification), and dropped while the log cannot be written;
confirmations go to the command lifecycle; a change of templates becomes the catalog at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from hub import codec, tasks
from hub.alarms import LimitMonitor
from hub.catalog import Catalog, CatalogChange
from hub.command_lifecycle import CommandLifecycle
from hub.fanout import FanOut
from hub.history import HistoryLog
from hub.messages import Level, to_micros
from hub.publisher import Publisher
from hub.templates import Templates, Value

log = logging.getLogger(__name__)

WARNED_MAX = 1000
"""Ids whose rejected values are logged (once each); past these, rejections are only counted, so that a
broken sensor cannot flood the log."""


class SourceIntake:
    """The source's `CatalogEvents`: checks what it reports and publishes it.

    `share(templates)` is told of every change of the source's templates, for the other hub processes."""

    def __init__(
        self,
        catalog: Catalog,
        history: HistoryLog,
        fanout: FanOut,
        publisher: Publisher,
        commands: CommandLifecycle,
        share: Callable[[Templates], None],
    ) -> None:
        self.catalog = catalog
        self.history = history
        self.fanout = fanout
        self.publisher = publisher
        self.commands = commands
        self._share = share
        self.rejected_values = 0
        """Values refused: an unknown id, a bad value, or a log that cannot be written."""
        self._limits = LimitMonitor(catalog.types)
        self._warned: set[str] = set()
        self._loading: set[asyncio.Task[None]] = set()

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
        if not self.history.accepting:
            self._reject("history", "the history log cannot be written: telemetry is dropped until it can")
            return
        time_us = to_micros(timestamp)
        self.publisher.data(id, checked, time_us)
        transition = self._limits.check(id, checked)
        if transition is not None:
            details = {"state": transition.state, "previous": transition.previous, "value": transition.value}
            self.publisher.notification(
                transition.level, transition.code, transition.message, id=id, details=details, time_us=time_us
            )

    def notification(self, level: Level, code: str, message: str, id: str | None = None) -> None:
        self.publisher.source_notification(level, code, str(message), id=id)

    def confirmation(self, command_id: str, status: str, message: str) -> None:
        self.commands.confirmation(command_id, status, message)

    def templates_changed(self, templates: Templates) -> None:
        """The source's templates changed (a device announced itself): the catalog, and with it
        subscriptions, command validation and the HTTP API, follow at once; limits are checked against the
        new types (an id whose limits did not change keeps its state, so it is not reported again); clients
        get a `templates_changed` notification saying what changed, so that they fetch the templates again."""
        change = self.adopt(templates)
        if not change:
            return
        self._share(templates)
        counts = f"{len(self.catalog.types)} telemetry types and {len(self.catalog.commands)} commands"
        self.publisher.notification(
            "info", "templates_changed", f"the source now offers {counts}", details=change.details()
        )

    def adopt(self, templates: Templates) -> CatalogChange:
        """Take `templates` as the catalog (the source's, or the leading process's); return what changed."""
        change = self.catalog.replace(templates)
        if not change:
            return change
        self._limits = self._limits.updated(self.catalog.types)
        if change.added_types:  # what they last said before a restart, for the next subscribe
            loading = tasks.start(self.load_latest(change.added_types), "latest values of new types")
            self._loading.add(loading)
            loading.add_done_callback(self._loading.discard)
        return change

    async def load_latest(self, ids: Iterable[str]) -> None:
        """Take the logged latest value of each of `ids` that has no newer live one yet."""
        records = await self.history.latest(list(ids))

        async def store() -> None:
            latest = self.fanout.latest
            for record in records:
                key = record.id or ""
                if key not in latest or latest[key][0] < record.seq:
                    latest[key] = (record.seq, record.payload)

        await self.fanout.serialized(store)

    def carry_on_limits(self) -> None:
        """Each limit's state as the previous leading process left it, from the latest values: a value out
        of limits is not reported again."""
        for telemetry_id, (_, text) in self.fanout.latest.items():
            self._limits.check(telemetry_id, codec.loads(text).get("value"))

    async def stop(self) -> None:
        """Stop loading latest values."""
        await tasks.stop(self._loading)

    def _reject(self, key: str, reason: str) -> None:
        self.rejected_values += 1
        if key not in self._warned and len(self._warned) < WARNED_MAX:
            self._warned.add(key)
            log.warning("%s (further ones are counted, not logged)", reason)
