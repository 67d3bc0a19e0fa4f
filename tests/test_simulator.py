"""The simulator source: production at the template rates, command timelines, knobs validation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.errors import ConfigurationError, SourceUnavailable
from hub.settings import Settings
from hub.sources.base import Source, SourceCommand, SourceStatus
from hub.templates import TELEMETRY_FILE, Templates, Value, load_templates
from simulators.simulator import Simulator, from_settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FAST = 0.05
"""delay_scale for tests: command timelines run 20 times faster."""
_ids = itertools.count(1)


class RecordingEvents:
    """A SourceEvents that records every call and wakes the test when a condition it waits for holds."""

    def __init__(self) -> None:
        self.samples: defaultdict[str, list[tuple[Value, float]]] = defaultdict(list)
        self.total = 0
        self.confirmations: list[tuple[str, SourceStatus, str, float]] = []
        self.notifications: list[tuple[str, str, str, str | None]] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Event]] = []

    def telemetry(self, id: str, value: Value, timestamp: float) -> None:
        self.samples[id].append((value, timestamp))
        self.total += 1
        if self._waiters:
            self._check()

    def confirmation(self, command_id: str, status: SourceStatus, message: str) -> None:
        self.confirmations.append((command_id, status, message, time.time()))
        self._check()

    def notification(self, level: str, code: str, message: str, id: str | None = None) -> None:
        self.notifications.append((level, code, message, id))
        self._check()

    async def until(self, condition: Callable[[], bool], within_s: float = 5.0) -> None:
        if condition():
            return
        event = asyncio.Event()
        self._waiters.append((condition, event))
        async with asyncio.timeout(within_s):
            await event.wait()

    def statuses(self, command_id: str) -> list[SourceStatus]:
        return [status for cid, status, _, _ in self.confirmations if cid == command_id]

    def terminal(self, command_id: str) -> tuple[SourceStatus, str, float] | None:
        for cid, status, message, at in self.confirmations:
            if cid == command_id and status != "executing":
                return status, message, at
        return None

    def _check(self) -> None:
        for waiter in list(self._waiters):
            if waiter[0]():
                waiter[1].set()
                self._waiters.remove(waiter)


class StallingEvents(RecordingEvents):
    """Blocks the event loop once, on the first sample, like a consumer that stalls."""

    def __init__(self, stall_s: float) -> None:
        super().__init__()
        self._stall_s = stall_s

    def telemetry(self, id: str, value: Value, timestamp: float) -> None:
        if self._stall_s:
            time.sleep(self._stall_s)  # the stall under test, not a wait for something
            self._stall_s = 0.0
        super().telemetry(id, value, timestamp)


@contextlib.asynccontextmanager
async def running(
    simulator: Simulator, events: RecordingEvents | None = None
) -> AsyncIterator[RecordingEvents]:
    """Run `simulator` into `events` until it has produced something; cancel it on leaving."""
    events = events or RecordingEvents()
    task = asyncio.create_task(simulator.run(events))
    try:
        await events.until(lambda: events.total > 0)
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def default_templates(rate_hz: float = 25.0) -> Templates:
    """The shipped templates, with every telemetry type at `rate_hz`."""
    templates = load_templates(TEMPLATES)
    faster = tuple(t.model_copy(update={"rate_hz": rate_hz}) for t in templates.telemetry_types)
    return templates.model_copy(update={"telemetry_types": faster})


def write_templates(directory: Path, telemetry_types: list[dict[str, Any]]) -> Path:
    """Make `directory` a templates folder: these telemetry types and the shipped commands."""
    (directory / TELEMETRY_FILE).write_text(yaml.safe_dump({"telemetry_types": telemetry_types}))
    shutil.copy(TEMPLATES / "command_templates.yaml", directory)
    return directory


async def command(
    simulator: Simulator, events: RecordingEvents, name: str, **parameters: Value
) -> tuple[str, str]:
    """Execute a command and return its terminal (status, message)."""
    command_id = f"{name}-{next(_ids)}"
    await simulator.execute(SourceCommand(command_id, name, parameters))
    await events.until(lambda: events.terminal(command_id) is not None)
    status, message, _ = events.terminal(command_id) or ("", "", 0.0)
    return status, message


def spacings(samples: list[tuple[Value, float]]) -> list[float]:
    """The seconds between the timestamps of consecutive samples."""
    return [b[1] - a[1] for a, b in itertools.pairwise(samples)]


def test_default_templates_cover_every_datatype() -> None:
    """The default templates load and cover every datatype and parameter type at a modest total rate."""
    templates = load_templates(TEMPLATES)
    assert 20 <= len(templates.telemetry_types) <= 26
    assert {t.datatype for t in templates.telemetry_types} == {"float", "int", "bool", "string", "enum"}
    assert 40 <= sum(t.rate_hz for t in templates.telemetry_types) <= 80
    parameters = [p for c in templates.command_templates for p in c.parameters]
    assert {p.type for p in parameters} == {"float", "int", "bool", "string", "enum"}
    assert any(p.required for p in parameters) and any(p.default is not None for p in parameters)


async def test_every_type_is_produced_with_its_datatype_and_range() -> None:
    """Every telemetry type is produced with exactly its datatype's Python type, within min/max and values."""
    templates = default_templates()
    simulator = Simulator(templates, seed=1, delay_scale=FAST)
    async with running(simulator) as events:
        await events.until(lambda: all(len(events.samples[t.id]) >= 10 for t in templates.telemetry_types))
    for telemetry in templates.telemetry_types:
        expected = {"float": float, "int": int, "bool": bool, "string": str, "enum": str}[telemetry.datatype]
        for value, _ in events.samples[telemetry.id]:
            assert type(value) is expected, (telemetry.id, value)
            if telemetry.values is not None:
                assert value in telemetry.values
            if isinstance(value, int | float) and not isinstance(value, bool):
                low, high = telemetry.min, telemetry.max
                assert (low is None or value >= low) and (high is None or value <= high), (
                    telemetry.id,
                    value,
                )


async def test_a_seed_repeats_the_free_running_values() -> None:
    """Two simulators with the same seed produce the same free-running values."""
    runs = []
    for _ in range(2):
        async with running(Simulator(default_templates(), seed=7)) as events:
            await events.until(lambda: len(events.samples["obc_temp"]) >= 5)
        runs.append([value for value, _ in events.samples["obc_temp"][:5]])
    assert runs[0] == runs[1]


async def test_samples_are_spaced_exactly_one_period_at_a_high_total_rate(tmp_path: Path) -> None:
    """At 2000+ points/s, consecutive samples of each id are exactly 1/rate_hz apart, fractional rates too."""
    fast = [
        {"id": f"fast_{i:02}", "datatype": "float", "min": 0, "max": 1, "rate_hz": 100} for i in range(20)
    ]
    others = [
        {"id": "counter", "datatype": "int", "min": 0, "rate_hz": 7.5, "simulation": {"count_per_s": 3}},
        {"id": "state", "datatype": "enum", "values": ["a", "b"], "rate_hz": 2.5},
        {"id": "flag", "datatype": "bool", "rate_hz": 12.5, "simulation": {"change_every_s": 0.1}},
        {"id": "text", "datatype": "string", "rate_hz": 10},
    ]
    directory = write_templates(tmp_path, fast + others)
    simulator = Simulator(load_templates(directory), seed=3)
    rates = {t.id: t.rate_hz for t in simulator.templates.telemetry_types}
    async with running(simulator) as events:
        await events.until(lambda: events.total >= 2000 and len(events.samples["state"]) >= 3)
    first = {samples[0][1] for samples in events.samples.values()}
    assert len(first) == 1, "every id starts at the same scheduled time"
    for id, samples in events.samples.items():
        assert spacings(samples) == pytest.approx([1.0 / rates[id]] * (len(samples) - 1), abs=1e-6), id
    counts = [len(events.samples[f"fast_{i:02}"]) for i in range(20)]
    assert max(counts) - min(counts) <= 1
    counter = [value for value, _ in events.samples["counter"]]
    assert counter == sorted(counter)
    assert not events.notifications


async def test_overrun_skips_ahead_and_notifies(tmp_path: Path) -> None:
    """After a stall of over a second the simulator reports source_overrun and skips the missed samples."""
    directory = write_templates(tmp_path, [{"id": "a", "datatype": "float", "rate_hz": 100}])
    async with running(Simulator(load_templates(directory)), StallingEvents(1.2)) as events:
        await events.until(lambda: any(n[1] == "source_overrun" for n in events.notifications))
        await events.until(lambda: len(events.samples["a"]) >= 10)
    assert [n[0] for n in events.notifications] == ["warning"]
    assert max(spacings(events.samples["a"])) > 1.0, "the missed samples were skipped, not sent in a burst"


async def test_science_mode_needs_the_deployed_array() -> None:
    """set_mode science fails until the array is deployed; a second deployment fails."""
    simulator = Simulator(default_templates(), seed=1, delay_scale=FAST)
    async with running(simulator) as events:
        assert await command(simulator, events, "set_mode", mode="science") == (
            "failed",
            "science mode needs the solar array deployed",
        )
        assert (await command(simulator, events, "deploy_solar_array"))[0] == "completed"
        assert (await command(simulator, events, "deploy_solar_array"))[0] == "failed"
        assert (await command(simulator, events, "set_mode", mode="science"))[0] == "completed"
        mode = events.samples["system_mode"]
        deployed = events.samples["solar_array_deployed"]
        await events.until(lambda: mode[-1][0] == "science" and deployed[-1][0] is True)


async def test_slew_is_refused_in_safe_mode_and_turns_otherwise() -> None:
    """A slew fails in safe mode; in nominal mode the attitude goes slewing, then pointing at the target."""
    simulator = Simulator(default_templates(50.0), seed=1, delay_scale=FAST)
    async with running(simulator) as events:
        assert await command(simulator, events, "slew", yaw_deg=10.0) == (
            "failed",
            "slew refused in safe mode",
        )
        assert (await command(simulator, events, "set_mode", mode="nominal"))[0] == "completed"
        yaw = events.samples["attitude_yaw_deg"]
        target = (float(yaw[-1][0]) + 270.0) % 360.0 - 180.0  # a 90 degree turn
        assert (await command(simulator, events, "slew", yaw_deg=target, pitch_deg=5.0))[0] == "completed"
        completed_at = events.confirmations[-1][3]
        await events.until(lambda: yaw[-1][1] > completed_at)
    assert abs(float(yaw[-1][0]) - target) < 0.1
    assert abs(float(events.samples["attitude_pitch_deg"][-1][0]) - 5.0) < 0.1
    modes = [value for value, _ in events.samples["attitude_mode"]]
    assert "slewing" in modes and modes[-1] == "pointing"


async def test_set_telemetry_rate_changes_the_spacing() -> None:
    """set_telemetry_rate reschedules the id: later samples are 1/new rate apart."""
    simulator = Simulator(default_templates(), seed=1, delay_scale=FAST)
    async with running(simulator) as events:
        samples = events.samples["uptime_s"]
        await events.until(lambda: len(samples) >= 5)
        status, _ = await command(simulator, events, "set_telemetry_rate", id="uptime_s", rate_hz=62.5)
        assert status == "completed"
        after = len(samples)
        await events.until(lambda: len(samples) >= after + 6)
    assert spacings(samples[:after][:5]) == pytest.approx([1 / 25.0] * 4, abs=1e-6)
    assert spacings(samples[after:]) == pytest.approx([1 / 62.5] * (len(samples) - after - 1), abs=1e-6)


async def test_set_telemetry_rate_of_an_unknown_id_fails() -> None:
    """set_telemetry_rate with an id the device does not know fails, naming the id."""
    simulator = Simulator(default_templates(), delay_scale=FAST)
    async with running(simulator) as events:
        assert await command(simulator, events, "set_telemetry_rate", id="warp_core", rate_hz=1.0) == (
            "failed",
            "unknown telemetry type 'warp_core'",
        )


async def test_commands_change_the_telemetry() -> None:
    """Transmitter power and heater commands show in tx_power_dbm, rssi_dbm and the heater state."""
    simulator = Simulator(default_templates(), seed=1, delay_scale=FAST)
    async with running(simulator) as events:
        await command(simulator, events, "set_transmitter_power", level_dbm=40)
        await command(simulator, events, "set_heater", heater="propulsion", enabled=True, setpoint_c=40.0)
        after = events.total
        await events.until(lambda: events.total > after + 200)
    assert events.samples["tx_power_dbm"][-1][0] == 40
    assert float(events.samples["rssi_dbm"][-1][0]) > -95.0
    assert events.samples["propulsion_heater_on"][-1][0] is True
    assert str(events.samples["last_uplink"][-1][0]).startswith("set_heater (set_heater-")


async def test_every_command_confirms_executing_then_one_terminal_status() -> None:
    """Each command is confirmed executing, then exactly one of completed or failed."""
    simulator = Simulator(default_templates(), seed=1, delay_scale=FAST)
    commands: list[tuple[str, dict[str, Value]]] = [
        ("set_mode", {"mode": "nominal"}),
        ("deploy_solar_array", {}),
        ("set_heater", {"heater": "battery", "enabled": False}),
        ("set_telemetry_rate", {"id": "obc_temp", "rate_hz": 5.0}),
        ("set_transmitter_power", {"level_dbm": 12}),
        ("slew", {"yaw_deg": 20.0}),
        ("run_self_test", {"duration_s": 1}),
    ]
    async with running(simulator) as events:
        for i, (name, parameters) in enumerate(commands):
            await simulator.execute(SourceCommand(f"c{i}", name, parameters))
        await events.until(lambda: all(events.terminal(f"c{i}") for i in range(len(commands))))
        after = events.total
        await events.until(lambda: events.total > after + 100)
    for i in range(len(commands)):
        statuses = events.statuses(f"c{i}")
        assert statuses[0] == "executing" and len(statuses) == 2, (commands[i], statuses)
        assert statuses[1] in ("completed", "failed")


async def test_stopping_cancels_running_commands() -> None:
    """When run ends, a command still executing is cancelled and leaves no task behind."""
    simulator = Simulator(default_templates(), delay_scale=FAST)
    async with running(simulator) as events:
        await simulator.execute(SourceCommand("long", "run_self_test", {"duration_s": 120}))
        await events.until(lambda: events.statuses("long") == ["executing"])
    assert events.statuses("long") == ["executing"]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("simulator command")]


async def test_execute_before_run_is_refused() -> None:
    """A command sent while the simulator is not running is refused with SourceUnavailable."""
    source: Source = Simulator(default_templates())  # mypy checks that the simulator is a Source
    with pytest.raises(SourceUnavailable):
        await source.execute(SourceCommand("c", "deploy_solar_array", {}))


@pytest.mark.parametrize(
    ("knobs", "field", "problem"),
    [
        ({"noise": -1}, "simulation.noise", "greater than or equal to 0"),
        ({"wobble": 2}, "simulation.wobble", "Extra inputs are not permitted"),
        ({"follows": "warp_core"}, "simulation.follows", "unknown quantity 'warp_core'"),
        ({"follows": "system_mode"}, "simulation.follows", "is an enum, not float"),
        ({"texts": ["x"]}, "simulation.texts", "only applies to strings"),
        ({"excursion_every_s": 10, "excursion_s": 20}, "simulation.excursion_s", "longer than"),
    ],
)
def test_a_bad_knob_names_the_file_entry_and_field(
    tmp_path: Path, knobs: dict[str, Any], field: str, problem: str
) -> None:
    """A bad simulation knob stops construction with a ConfigurationError naming file, entry, id and field."""
    good = {"id": "good", "datatype": "float", "rate_hz": 1}
    write_templates(tmp_path, [good, {"id": "bad", "datatype": "float", "rate_hz": 1, "simulation": knobs}])
    with pytest.raises(ConfigurationError) as raised:
        from_settings(Settings(templates_dir=tmp_path))
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / TELEMETRY_FILE}: entry 1 (id 'bad'): field '{field}': ")
    assert problem in message
