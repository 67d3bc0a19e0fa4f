"""The simulator source: a small spacecraft bus producing every telemetry type of the templates at its rate.

One loop owns production. Each wake-up brings the spacecraft up to now, emits every sample that is due,
timestamped with its scheduled time (wall-clock anchor + monotonic offset, so spacing is exact), and sleeps
until the earliest deadline. Commands run as tasks of their own, kept and cancelled when `run` ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from hub.errors import SourceUnavailable
from hub.settings import Settings
from hub.sources.base import SourceCommand, SourceEvents
from hub.templates import TELEMETRY_FILE, Templates, load_templates
from simulators.commands import CommandRunner
from simulators.knobs import load_knobs
from simulators.scheduler import Scheduler
from simulators.signals import Signal, signal_for
from simulators.spacecraft import Spacecraft

logger = logging.getLogger(__name__)

MAX_LAG_S = 1.0
"""Further behind than this, the loop skips the missed samples instead of sending them in a burst."""
TICK_S = 0.001
"""Sleeps are whole ticks: the event loop's timers (uvloop's) count whole milliseconds and round, so a
shorter sleep would wake before its deadline again and again, spinning a core. Faster ids send what came due
during the tick together."""


class Simulator:
    """A Source without hardware. `seed` makes its randomness repeatable; `delay_scale` speeds up commands."""

    name = "simulator"

    def __init__(
        self,
        templates: Templates,
        *,
        telemetry_file: Path = Path(TELEMETRY_FILE),
        seed: int | None = None,
        delay_scale: float = 1.0,
    ) -> None:
        """Validate the `simulation:` knobs now (ConfigurationError naming `telemetry_file`), not in `run`."""
        if not delay_scale > 0.0:
            raise ValueError(f"delay_scale must be positive, got {delay_scale!r}")
        self._templates = templates
        self._knobs = load_knobs(templates.telemetry_types, telemetry_file)
        self._seed = seed
        self._delay_scale = delay_scale
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: CommandRunner | None = None
        self._scheduler: Scheduler | None = None
        self._clock: Callable[[], float] = time.monotonic
        self._wakeup: asyncio.Future[None] | None = None

    @property
    def templates(self) -> Templates:
        return self._templates

    async def run(self, events: SourceEvents) -> None:
        """Produce telemetry until cancelled; each run starts with a new spacecraft at the template rates."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        start, anchor = time.monotonic(), time.time()

        def clock() -> float:  # not loop.time(): uvloop's counts milliseconds and stands still in a callback
            return time.monotonic() - start

        craft = Spacecraft(self._rng("spacecraft"))
        types = self._templates.telemetry_types
        signals = {t.id: signal_for(t, self._knobs[t.id], self._rng(f"telemetry:{t.id}")) for t in types}
        scheduler = Scheduler({t.id: t.rate_hz for t in types})
        self._clock, self._scheduler = clock, scheduler
        self._runner = CommandRunner(
            craft, clock, events, self._templates.command_templates, self._set_rate, self._rng("commands"),
            self._delay_scale,
        )  # fmt: skip
        try:
            await self._produce(events, craft, signals, scheduler, clock, anchor)
        finally:
            self._runner = self._scheduler = None
            await self._stop_commands()

    async def execute(self, command: SourceCommand) -> None:
        """Start `command`'s timeline and return; it confirms through the events given to `run`."""
        runner = self._runner
        if runner is None:
            raise SourceUnavailable("the simulator is not running")
        task = asyncio.create_task(runner.run(command), name=f"simulator command {command.command_id}")
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    async def _produce(
        self,
        events: SourceEvents,
        craft: Spacecraft,
        signals: Mapping[str, Signal],
        scheduler: Scheduler,
        clock: Callable[[], float],
        anchor: float,
    ) -> None:
        telemetry = events.telemetry
        while True:
            now = clock()
            due = scheduler.next_due()
            if due is not None and now - due > MAX_LAG_S:
                skipped = scheduler.skip_ahead(now)
                message = f"The simulator fell {now - due:.1f} s behind and skipped {skipped} samples"
                logger.warning("%s", message)
                events.notification("warning", "source_overrun", message)
            craft.advance(now)
            for notice in craft.notices:
                events.notification(notice.level, notice.code, notice.message)
            craft.notices.clear()
            readings = craft.readings
            for t, id in scheduler.pop_due(now):
                telemetry(id, signals[id].sample(t, readings), anchor + t)
            due = scheduler.next_due()
            await self._sleep(None if due is None else due - clock())

    async def _sleep(self, delay: float | None) -> None:
        """Sleep `delay` seconds rounded up to whole ticks (None: forever), or until `_wake` is called."""
        loop = asyncio.get_running_loop()
        wakeup: asyncio.Future[None] = loop.create_future()
        ticks = None if delay is None else max(0, math.ceil(delay / TICK_S))
        handle = None if ticks is None else loop.call_later(ticks * TICK_S, _resolve, wakeup)
        self._wakeup = wakeup
        try:
            await wakeup
        finally:
            self._wakeup = None
            if handle is not None:
                handle.cancel()

    def _wake(self) -> None:
        if self._wakeup is not None:
            _resolve(self._wakeup)

    def _set_rate(self, id: str, rate: float) -> bool:
        """Reschedule `id` at `rate`, waking the loop in case it is due sooner; False if `id` is unknown."""
        scheduler = self._scheduler
        if scheduler is None or id not in scheduler:
            return False
        scheduler.set_rate(id, rate, self._clock())
        self._wake()
        return True

    def _rng(self, purpose: str) -> random.Random:
        """An independent generator per purpose, so adding a telemetry type does not change the others."""
        return random.Random() if self._seed is None else random.Random(f"{self._seed}:{purpose}")

    async def _stop_commands(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # their errors are logged by _forget

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("simulator: %s failed", task.get_name(), exc_info=error)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def from_settings(settings: Settings) -> Simulator:
    """The registry's factory (`HUB_SOURCE=simulator`): the templates of `settings.templates_dir`."""
    directory = settings.templates_dir
    return Simulator(load_templates(directory), telemetry_file=directory / TELEMETRY_FILE)
