"""Keeps the source running: reports its state, and restarts it with backoff when it fails."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

from hub.source import Source

if TYPE_CHECKING:
    from hub.core import Hub

log = logging.getLogger(__name__)

SourceState = Literal["starting", "running", "down", "stopped"]

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits between restarts of a failing source; the last one repeats."""

HEALTHY_RUN_S = 60.0
"""A source that ran this long before failing starts the backoff over."""


class Supervisor:
    def __init__(self, source: Source, hub: Hub) -> None:
        self.source = source
        self.hub = hub
        self.state: SourceState = "starting"
        self.error: str | None = None

    async def run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                self.state = "running"
                self.hub.notification("info", "source_connected", f"source {self.source.name} connected")
                try:
                    await self.source.run(self.hub)
                    self.error = "the source stopped"
                except Exception as error:
                    self.error = f"{type(error).__name__}: {error}"
                    log.exception("source %s failed", self.source.name)
                failures = 1 if loop.time() - started > HEALTHY_RUN_S else failures + 1
                self.state = "down"
                delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
                self.hub.notification(
                    "critical",
                    "source_disconnected",
                    f"source {self.source.name} disconnected ({self.error}); retrying in {delay:g} s",
                )
                await asyncio.sleep(delay)
        finally:
            self.state = "stopped"
