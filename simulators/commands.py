"""Command timelines: what the simulated spacecraft does with each command, and when it says so.

Every command is confirmed `executing` after a short device delay (50-300 ms), then `completed` or `failed`
with a reason once its execution time is over; refusals (preconditions checked when execution starts) fail
quickly. All durations are multiplied by `delay_scale`, so tests can run the same timelines faster.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping

from hub.sources.base import SourceCommand, SourceEvents
from hub.templates import CommandTemplate, Value
from simulators.spacecraft import MODES, Spacecraft

logger = logging.getLogger(__name__)

Outcome = tuple[bool, str]
"""(completed?, message) of a command's execution."""
Handler = Callable[[Mapping[str, Value]], Awaitable[Outcome]]

REFUSAL_S = 0.2
"""How long the device takes to find out that it cannot do something."""


class CommandRunner:
    """Plays commands against one spacecraft while `Simulator.run` is active."""

    def __init__(
        self,
        spacecraft: Spacecraft,
        clock: Callable[[], float],
        events: SourceEvents,
        templates: tuple[CommandTemplate, ...],
        set_rate: Callable[[str, float], bool],
        rng: random.Random,
        delay_scale: float,
    ) -> None:
        self._spacecraft = spacecraft
        self._clock = clock
        self._events = events
        self._set_rate = set_rate
        self._rng = rng
        self._scale = delay_scale
        self._defaults = {
            t.command: {p.name: p.default for p in t.parameters if p.default is not None} for t in templates
        }
        self._handlers: dict[str, Handler] = {
            "set_mode": self._set_mode,
            "deploy_solar_array": self._deploy_solar_array,
            "set_heater": self._set_heater,
            "set_telemetry_rate": self._set_telemetry_rate,
            "set_transmitter_power": self._set_transmitter_power,
            "slew": self._slew,
            "run_self_test": self._run_self_test,
        }

    async def run(self, command: SourceCommand) -> None:
        """Confirm `executing`, execute, then confirm exactly one of `completed` or `failed`."""
        await self._pause(self._rng.uniform(0.05, 0.3))
        self._events.confirmation(command.command_id, "executing", f"{command.command}: executing")
        self._spacecraft.uplink(command.command, command.command_id)
        handler = self._handlers.get(command.command)
        if handler is None:
            ok, message = False, f"the simulator does not implement {command.command!r}"
        else:
            try:
                ok, message = await handler({**self._defaults.get(command.command, {}), **command.parameters})
            except Exception as error:
                logger.exception("simulator: command %s (%s) crashed", command.command, command.command_id)
                ok, message = False, f"simulator error: {error!r}"
        self._events.confirmation(command.command_id, "completed" if ok else "failed", message)

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self._scale)

    def _advance(self) -> Spacecraft:
        """The spacecraft, brought up to now so that a change applies from now on."""
        self._spacecraft.advance(self._clock())
        return self._spacecraft

    async def _set_mode(self, p: Mapping[str, Value]) -> Outcome:
        mode = str(p["mode"])
        if mode not in MODES:
            return False, f"unknown mode {mode!r}"
        if mode == "science" and not self._spacecraft.array_deployed:
            await self._pause(REFUSAL_S)
            return False, "science mode needs the solar array deployed"
        await self._pause(0.6)
        self._advance().set_mode(mode)
        return True, f"now in {mode} mode"

    async def _deploy_solar_array(self, p: Mapping[str, Value]) -> Outcome:
        craft = self._spacecraft
        if craft.array_deployed or craft.array_deploying:
            await self._pause(REFUSAL_S)
            state = "deployed" if craft.array_deployed else "deploying"
            return False, f"the solar array is already {state}"
        craft.array_deploying = True
        await self._pause(self._rng.uniform(2.0, 3.0))
        self._advance()
        craft.array_deploying = False
        craft.array_deployed = True
        craft.refresh()
        return True, "solar array deployed and latched"

    async def _set_heater(self, p: Mapping[str, Value]) -> Outcome:
        name, enabled, setpoint = str(p["heater"]), bool(p["enabled"]), float(p["setpoint_c"])
        node = {"battery": self._spacecraft.battery, "propulsion": self._spacecraft.tank}.get(name)
        if node is None:
            return False, f"unknown heater {name!r}"
        await self._pause(0.3)
        self._advance()
        node.heater.enabled = enabled
        node.heater.setpoint_c = setpoint
        state = f"enabled, holding {setpoint:g} °C" if enabled else "disabled"
        return True, f"{name} heater {state}"

    async def _set_telemetry_rate(self, p: Mapping[str, Value]) -> Outcome:
        id, rate = str(p["id"]), float(p["rate_hz"])
        await self._pause(0.2)
        if not rate > 0.0:
            return False, f"rate must be positive, got {rate:g}"
        if not self._set_rate(id, rate):
            return False, f"unknown telemetry type {id!r}"
        return True, f"{id} now at {rate:g} Hz"

    async def _set_transmitter_power(self, p: Mapping[str, Value]) -> Outcome:
        level = int(p["level_dbm"])
        await self._pause(0.4)
        craft = self._advance()
        craft.tx_power_dbm = level
        craft.refresh()
        return True, f"transmitter at {level} dBm"

    async def _slew(self, p: Mapping[str, Value]) -> Outcome:
        craft = self._spacecraft
        if craft.mode == "safe":
            await self._pause(REFUSAL_S)
            return False, "slew refused in safe mode"
        target = (float(p["yaw_deg"]), float(p["pitch_deg"]), float(p["roll_deg"]))
        t = self._advance().t
        duration = craft.attitude.slew_duration(t, target)
        segment = craft.attitude.slew(t, target, duration * self._scale)
        craft.refresh()
        await self._pause(duration)
        if not craft.attitude.finish(segment):
            return False, f"slew interrupted (attitude mode is now {craft.attitude.mode})"
        self._advance().refresh()
        return True, "pointing at yaw {:g}, pitch {:g}, roll {:g} deg".format(*target)

    async def _run_self_test(self, p: Mapping[str, Value]) -> Outcome:
        craft = self._spacecraft
        if craft.self_test == "running":
            await self._pause(REFUSAL_S)
            return False, "a self-test is already running"
        self._advance().self_test = "running"
        craft.refresh()
        await self._pause(float(p["duration_s"]))
        low_battery = self._advance().soc < 0.2
        craft.self_test = "failed" if low_battery else "passed"
        craft.refresh()
        if low_battery:
            return False, "self-test failed: battery below 20 %"
        return True, "self-test passed"
