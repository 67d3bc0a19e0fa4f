"""Value generators: a telemetry type, its knobs and the spacecraft's readings in, one sample value out.

Numbers are a base (the quantity followed, a counter, or a center) plus a slow sine, a periodic limit
excursion and gaussian noise, rounded and clamped to the template's min/max. Bools, enums and strings either
follow a quantity or switch state at random times (exponential gaps, mean `change_every_s`). Every value has
exactly the template's Python type: int, float, bool, or str (one of `values` for an enum).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Protocol

from hub.templates import NUMERIC, TelemetryType, Value
from simulators.knobs import Knobs


class Signal(Protocol):
    def sample(self, t: float, readings: Mapping[str, Value]) -> Value:
        """The value at `t` (seconds since start, never decreasing) given the spacecraft's readings."""
        ...


def signal_for(telemetry: TelemetryType, knobs: Knobs, rng: random.Random) -> Signal:
    """The generator for `telemetry`, drawing its randomness from `rng` alone (so a seed reproduces it)."""
    if telemetry.datatype in NUMERIC:
        return Number(telemetry, knobs, rng)
    if knobs.follows is not None:
        return Follower(knobs.follows)
    if telemetry.datatype == "bool":
        states: tuple[Value, ...] = (False, True)
    elif telemetry.datatype == "enum":
        states = telemetry.values or ()
    else:
        states = knobs.texts or tuple(f"{telemetry.id} #{n}" for n in range(1, 4))
    return Switching(states, knobs.change_every_s, rng)


class Follower:
    """Reports a spacecraft quantity as it is (bools, enums and strings)."""

    def __init__(self, quantity: str) -> None:
        self._quantity = quantity

    def sample(self, t: float, readings: Mapping[str, Value]) -> Value:
        return readings[self._quantity]


class Number:
    """A float or int: base + sine + excursion + noise, then rounded and clamped into min..max."""

    __slots__ = (
        "_amplitude", "_center", "_count_per_s", "_decimals", "_dur", "_every", "_follows",
        "_high", "_integer", "_low", "_noise", "_offset", "_omega", "_rng",
    )  # fmt: skip

    def __init__(self, telemetry: TelemetryType, knobs: Knobs, rng: random.Random) -> None:
        low, high = telemetry.min, telemetry.max
        self._integer = telemetry.datatype == "int"
        if self._integer:
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
        self._low = -math.inf if low is None else float(low)
        self._high = math.inf if high is None else float(high)
        self._follows = knobs.follows
        self._count_per_s = knobs.count_per_s
        self._center = knobs.center if knobs.center is not None else _default_center(low, high, knobs)
        self._amplitude = knobs.amplitude
        self._omega = 2.0 * math.pi / knobs.period_s
        self._every = knobs.excursion_every_s
        self._dur = knobs.excursion_s
        self._offset = knobs.excursion_offset
        self._noise = knobs.noise
        self._decimals = knobs.decimals
        self._rng = rng

    def sample(self, t: float, readings: Mapping[str, Value]) -> Value:
        if self._follows is not None:
            value = float(readings[self._follows])
        elif self._count_per_s is not None:
            value = self._center + math.floor(self._count_per_s * t)
        else:
            value = self._center
        if self._amplitude:
            value += self._amplitude * math.sin(self._omega * t)
        if self._every is not None:
            # The excursion fills the last `excursion_s` of every `excursion_every_s` (a half-sine bump).
            phase = t % self._every - (self._every - self._dur)
            if phase > 0.0:
                value += self._offset * math.sin(math.pi * phase / self._dur)
        if self._noise:
            value += self._rng.gauss(0.0, self._noise)
        if self._integer:
            return int(min(max(round(value), self._low), self._high))
        return float(min(max(round(value, self._decimals), self._low), self._high))


def _default_center(low: float | None, high: float | None, knobs: Knobs) -> float:
    """Counters start at min (or 0); other numbers sit mid-way between min and max (or at the one given)."""
    if knobs.count_per_s is not None:
        return 0.0 if low is None else float(low)
    if low is not None and high is not None:
        return (low + high) / 2.0
    return float(low if low is not None else high if high is not None else 0.0)


class Switching:
    """One of `states`, moving to a different one at random times (none when there is a single state)."""

    def __init__(self, states: tuple[Value, ...], mean_s: float, rng: random.Random) -> None:
        self._states = states
        self._index = 0
        self._mean_s = mean_s
        self._rng = rng
        self._next = rng.expovariate(1.0 / mean_s)

    def sample(self, t: float, readings: Mapping[str, Value]) -> Value:
        count = len(self._states)
        if count > 1:
            while t >= self._next:
                self._index = (self._index + 1 + self._rng.randrange(count - 1)) % count
                self._next += self._rng.expovariate(1.0 / self._mean_s)
        return self._states[self._index]
