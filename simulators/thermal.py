"""A lumped thermal node with a thermostat-driven heater: the battery and the propulsion tank.

The temperature relaxes exponentially towards its environment (sunlight or eclipse) plus the heater's
contribution, using the exact solution of the first-order equation so any time step is stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HYSTERESIS_C = 0.5
"""The thermostat switches on below setpoint - this and off above setpoint + this (no chattering)."""


@dataclass(slots=True)
class Heater:
    """A heater as the ground commands it (`enabled`, `setpoint_c`) and as the thermostat drives it (`on`)."""

    enabled: bool
    setpoint_c: float
    on: bool = False


@dataclass(slots=True)
class ThermalNode:
    """One temperature: `sun_c`/`eclipse_c` are where it settles unheated, `tau_s` how fast it gets there."""

    temp_c: float
    heater: Heater
    sun_c: float
    eclipse_c: float
    tau_s: float
    heater_c_per_s: float
    """Heating rate with the heater on (so it settles `heater_c_per_s * tau_s` above its environment)."""

    def advance(self, dt: float, eclipse: bool) -> None:
        """Move the temperature `dt` seconds on, after letting the thermostat decide on the heater."""
        heater = self.heater
        if not heater.enabled:
            heater.on = False
        elif self.temp_c < heater.setpoint_c - HYSTERESIS_C:
            heater.on = True
        elif self.temp_c > heater.setpoint_c + HYSTERESIS_C:
            heater.on = False
        target = self.eclipse_c if eclipse else self.sun_c
        if heater.on:
            target += self.heater_c_per_s * self.tau_s
        self.temp_c = target + (self.temp_c - target) * math.exp(-dt / self.tau_s)
