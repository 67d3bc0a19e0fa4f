"""Limit monitoring: one notification per band transition, computed by the hub for every source."""

from __future__ import annotations

from collections.abc import Callable

from hub.alarms import LimitMonitor
from hub.templates import load_templates
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES
from tests.support import is_


def monitor() -> LimitMonitor:
    """A limit monitor over the telemetry types of the test templates."""
    return LimitMonitor({t.id: t for t in load_templates(TEST_TEMPLATES).telemetry_types})


def test_one_notification_per_transition() -> None:
    """Crossing into warning, then critical, then back reports each change once, never per sample."""
    limits = monitor()
    values = [28, 29, 33, 33.5, 37, 38, 34, 30, 30, 19, 25]
    found = [(t.code, t.level, t.state) for v in values if (t := limits.check("voltage", v))]
    assert found == [
        ("limit_warning", "warning", "warning_high"),
        ("limit_critical", "critical", "critical_high"),
        ("limit_warning", "warning", "warning_high"),
        ("limit_nominal", "info", "nominal"),
        ("limit_critical", "critical", "critical_low"),
        ("limit_nominal", "info", "nominal"),
    ]


def test_new_templates_keep_the_state_of_unchanged_limits() -> None:
    """After a templates change, an id already out of limits is not reported again unless its limits
    changed (then its state starts over and the next value reports against the new limits)."""
    types = {t.id: t for t in load_templates(TEST_TEMPLATES).telemetry_types}
    limits = LimitMonitor(types)
    assert limits.check("voltage", 33) is not None  # warning_high
    same = limits.updated(types)
    assert same.check("voltage", 33.5) is None
    voltage = types["voltage"]
    assert voltage.limits is not None and voltage.limits.warning is not None
    wider = voltage.limits.model_copy(
        update={"warning": voltage.limits.warning.model_copy(update={"high": 34})}
    )
    changed = same.updated(types | {"voltage": voltage.model_copy(update={"limits": wider})})
    assert changed.check("voltage", 33.5) is None  # nominal under the new limits: nothing to report
    assert changed.check("voltage", 35) is not None  # and a crossing of them is reported
    assert limits.updated({}).check("voltage", 40) is None  # an id that is gone has no limits


def test_types_without_limits_never_notify() -> None:
    """Values of types without limits, and non-numeric values, cause nothing."""
    limits = monitor()
    assert limits.check("current", 1e9) is None
    assert limits.check("mode", "safe") is None


async def test_limit_notifications_reach_every_client(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """A limit transition is a notification to all clients, subscribed or not, naming the id."""
    subscriber, bystander = await running.client(), await running.client()
    await subscriber.call("subscribe", {"ids": ["voltage"]})
    for value in (28.0, 33.0, 33.1, 28.0):
        running.source.emit("voltage", value, clock())
    for client in (subscriber, bystander):
        warning, nominal = await client.wait_for(is_("notification", id="voltage"), count=2)
        assert (warning["code"], warning["level"]) == ("limit_warning", "warning")
        assert warning["message"] == "Bus voltage high warning at 33 V"
        assert warning["details"] == {"state": "warning_high", "previous": "nominal", "value": 33.0}
        assert nominal["code"] == "limit_nominal" and nominal["level"] == "info"
    data = subscriber.of("data")
    assert data[1]["seq"] < subscriber.of("notification", id="voltage")[0]["seq"]
