"""The attitude: three angles that drift (idle), hold (pointing) or move smoothly to a target (slewing).

Every state is an analytic function of time since its start, so the angles can be read at any sample time
without integrating. Each change of state gets a new `segment` number, which tells a slew command whether the
slew it started is still the one in progress when its time is up.
"""

from __future__ import annotations

import math
from typing import Literal

AttitudeMode = Literal["idle", "slewing", "pointing"]
Angles = tuple[float, float, float]

DRIFT_DPS = 0.2
"""Yaw drift with attitude control idle (safe mode)."""
SLEW_RATE_DPS = 10.0
"""Average turn rate of a slew."""
MIN_SLEW_S = 1.0


def wrap(angle: float) -> float:
    """The same direction within [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


class Attitude:
    """Yaw, pitch and roll in degrees, with the mode that moves them."""

    def __init__(self, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> None:
        self.mode: AttitudeMode = "idle"
        self.segment = 0
        self._t0 = 0.0
        self._start: Angles = (yaw, pitch, roll)
        self._delta: Angles = (0.0, 0.0, 0.0)
        self._duration = 0.0

    def angles(self, t: float) -> Angles:
        yaw, pitch, roll = self._start
        if self.mode == "idle":
            return wrap(yaw + DRIFT_DPS * (t - self._t0)), pitch, roll
        if self.mode == "pointing":
            return self._start
        s = _progress((t - self._t0) / self._duration)
        dy, dp, dr = self._delta
        return wrap(yaw + dy * s), pitch + dp * s, wrap(roll + dr * s)

    def rate(self, t: float) -> float:
        """Magnitude of the angular rate in deg/s."""
        if self.mode == "idle":
            return DRIFT_DPS
        if self.mode == "pointing":
            return 0.0
        u = (t - self._t0) / self._duration
        if not 0.0 <= u <= 1.0:
            return 0.0
        # Derivative of the cosine profile: peak pi/2 times the average rate, in the middle of the slew.
        return math.hypot(*self._delta) * math.pi / (2.0 * self._duration) * math.sin(math.pi * u)

    def slew_duration(self, t: float, target: Angles) -> float:
        """How long a slew from the attitude at `t` to `target` takes at the nominal rate (unscaled)."""
        return max(MIN_SLEW_S, math.hypot(*_delta(self.angles(t), target)) / SLEW_RATE_DPS)

    def slew(self, t: float, target: Angles, duration: float) -> int:
        """Start turning to `target` over `duration` seconds; returns the new segment number."""
        start = self.angles(t)
        self._begin(t, "slewing", start)
        self._delta = _delta(start, target)
        self._duration = duration
        return self.segment

    def finish(self, segment: int) -> bool:
        """End slew `segment` at its target (its time is up); False if another state replaced it meanwhile."""
        if segment != self.segment or self.mode != "slewing":
            return False
        yaw, pitch, roll = self._start
        dy, dp, dr = self._delta
        self._begin(self._t0 + self._duration, "pointing", (wrap(yaw + dy), pitch + dp, wrap(roll + dr)))
        return True

    def hold(self, t: float) -> None:
        """Point at the current attitude (when leaving safe mode)."""
        self._begin(t, "pointing", self.angles(t))

    def idle(self, t: float) -> None:
        """Stop controlling the attitude (safe mode); a slew in progress is abandoned where it is."""
        self._begin(t, "idle", self.angles(t))

    def _begin(self, t: float, mode: AttitudeMode, start: Angles) -> None:
        self.mode = mode
        self.segment += 1
        self._t0 = t
        self._start = start
        self._delta = (0.0, 0.0, 0.0)


def _delta(start: Angles, target: Angles) -> Angles:
    """Shortest turn per axis (yaw and roll wrap around, pitch does not)."""
    return (
        wrap(target[0] - start[0]),
        target[1] - start[1],
        wrap(target[2] - start[2]),
    )


def _progress(u: float) -> float:
    """Cosine profile: 0 -> 1 with zero rate at both ends."""
    if u <= 0.0:
        return 0.0
    if u >= 1.0:
        return 1.0
    return (1.0 - math.cos(math.pi * u)) / 2.0
