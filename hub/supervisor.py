"""Keeps the source running: reports its state, and restarts it with backoff when it fails."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from hub.sources.base import CatalogEvents, Source

log = logging.getLogger(__name__)

SourceState = Literal["starting", "running", "down", "stopped"]

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits between restarts of a failing source; the last one repeats."""

HEALTHY_RUN_S = 60.0
"""A source that ran this long before failing starts the backoff over."""

CONNECTED_AFTER_S = 1.0
"""A restarted source counts as connected again once it has run this long: one that cannot reach its device
(a broker that is down) fails at once, and each such retry must not be reported as a connection."""


class Supervisor:
    """Runs the source with `events` (the hub) to report to, restarts it when it fails, and says so: its
    `state` for /health, a notification through `events` when it connects or disconnects."""

    def __init__(self, source: Source, events: CatalogEvents) -> None:
        self.source = source
        self.events = events
        self.state: SourceState = "starting"
        self.error: str | None = None
        self._reported_up = False

    async def run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                if failures == 0:  # the first start: up as soon as it runs
                    self._up()
                    confirm = None
                else:
                    confirm = loop.call_later(CONNECTED_AFTER_S, self._up)
                try:
                    await self.source.run(self.events)
                    self.error = "the source stopped"
                except Exception as error:
                    self.error = f"{type(error).__name__}: {error}"
                    if self._reported_up:
                        log.exception("source %s failed", self.source.name)
                    else:  # still failing as before: the traceback was logged then
                        log.warning("source %s failed again: %s", self.source.name, self.error)
                finally:
                    if confirm is not None:
                        confirm.cancel()
                failures = 1 if loop.time() - started > HEALTHY_RUN_S else failures + 1
                self.state = "down"
                delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
                if self._reported_up:  # once per outage, not once per retry
                    self._reported_up = False
                    self.events.notification(
                        "critical",
                        "source_disconnected",
                        f"source {self.source.name} disconnected ({self.error}); retrying with backoff",
                    )
                await asyncio.sleep(delay)
        finally:
            self.state = "stopped"

    def _up(self) -> None:
        self.state = "running"
        self._reported_up = True
        self.events.notification("info", "source_connected", f"source {self.source.name} connected")
