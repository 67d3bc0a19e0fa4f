"""Limit monitoring: turns values into notifications when they cross a warning or critical band.

The hub computes transitions from the templates, so every source gets them. One notification per transition,
never one per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hub.messages import HubNotificationCode, Level
from hub.templates import Band, Limits, TelemetryType

State = Literal["nominal", "warning_low", "warning_high", "critical_low", "critical_high"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A value of `id` crossed into another band: the notification to publish, and the states around it."""

    id: str
    level: Level
    code: HubNotificationCode
    message: str
    previous: State
    state: State
    value: float


def classify(limits: Limits, value: float) -> State:
    for severity, band in (("critical", limits.critical), ("warning", limits.warning)):
        side = _outside(band, value)
        if side is not None:
            return f"{severity}_{side}"  # type: ignore[return-value]
    return "nominal"


def _outside(band: Band | None, value: float) -> Literal["low", "high"] | None:
    if band is None:
        return None
    if band.low is not None and value < band.low:
        return "low"
    if band.high is not None and value > band.high:
        return "high"
    return None


class LimitMonitor:
    """The band each telemetry id with limits is in; `check` returns a `Transition` when a value moves it."""

    def __init__(self, types: dict[str, TelemetryType]) -> None:
        self._limits = {i: t.limits for i, t in types.items() if t.limits is not None}
        self._names = {i: t.name or i for i, t in types.items()}
        self._units = {i: f" {t.unit}" if t.unit else "" for i, t in types.items()}
        self._state: dict[str, State] = {}

    def updated(self, types: dict[str, TelemetryType]) -> LimitMonitor:
        """A monitor for `types` that keeps the state of every id whose limits did not change: when a device
        announces new templates, an id already out of limits is not reported a second time."""
        monitor = LimitMonitor(types)
        monitor._state = {
            telemetry_id: state
            for telemetry_id, state in self._state.items()
            if telemetry_id in monitor._limits
            and monitor._limits[telemetry_id] == self._limits.get(telemetry_id)
        }
        return monitor

    def check(self, telemetry_id: str, value: object) -> Transition | None:
        """The transition this value causes, if any. The first value only reports if it is out of limits."""
        limits = self._limits.get(telemetry_id)
        if limits is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        state = classify(limits, value)
        previous = self._state.get(telemetry_id, "nominal")
        if state == previous:
            return None
        self._state[telemetry_id] = state
        name, unit = self._names[telemetry_id], self._units[telemetry_id]
        code: HubNotificationCode
        if state == "nominal":
            level: Level = "info"
            code = "limit_nominal"
            message = f"{name} back within limits at {value:g}{unit}"
        else:
            severity, side = state.split("_")
            level = "critical" if severity == "critical" else "warning"
            code = "limit_critical" if severity == "critical" else "limit_warning"
            message = f"{name} {side} {severity} at {value:g}{unit}"
        return Transition(telemetry_id, level, code, message, previous, state, float(value))
