"""The simulated vehicle: modes, power, thermal, attitude and comms state that commands change.

`advance(t)` moves the physics on to `t` (seconds since the simulator started) and refreshes `readings`, the
quantities telemetry types follow (`simulation: {follows: <quantity>}`). Time is compressed for a demo: an
orbit lasts ten minutes and the battery is small, so eclipses and charge changes show within minutes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from hub.messages import Level
from hub.templates import Value
from simulators.attitude import Attitude
from simulators.thermal import Heater, ThermalNode

Mode = Literal["safe", "nominal", "science"]
Quantity = Literal["number", "bool", "string"] | tuple[str, ...]
"""What a quantity holds: a number, a bool, a string, or one of a closed set of strings."""

MODES: tuple[Mode, ...] = ("safe", "nominal", "science")
QUANTITIES: dict[str, Quantity] = {
    **dict.fromkeys(("battery_voltage", "battery_current", "battery_soc", "solar_array_current"), "number"),
    **dict.fromkeys(("battery_temp", "propulsion_tank_temp", "angular_rate_dps", "rssi_dbm"), "number"),
    **dict.fromkeys(("attitude_yaw_deg", "attitude_pitch_deg", "attitude_roll_deg"), "number"),
    **dict.fromkeys(("tx_power_dbm", "packets_received", "uptime_s", "cpu_load_pct"), "number"),
    **dict.fromkeys(("solar_array_deployed", "battery_heater_on", "propulsion_heater_on"), "bool"),
    **dict.fromkeys(("star_tracker_locked", "eclipse"), "bool"),
    "last_uplink": "string",
    "attitude_mode": ("idle", "slewing", "pointing"),
    "link_state": ("locked", "searching", "lost"),
    "system_mode": MODES,
    "self_test_status": ("idle", "running", "passed", "failed"),
}

ORBIT_S = 600.0
ECLIPSE_FRACTION = 0.35
CAPACITY_AS = 7_200.0
"""Battery capacity in ampere-seconds (2 Ah)."""
LOAD_A: dict[Mode, float] = {"safe": 0.9, "nominal": 1.8, "science": 3.0}
CPU_PCT: dict[Mode, float] = {"safe": 18.0, "nominal": 32.0, "science": 58.0}
PASS_S = 300.0
"""Period of the ground-station geometry that swings the link margin by +-4 dB."""
LOCKED_DBM, LOST_DBM = -118.0, -126.0
PACKETS_PER_S = 6.0
STAR_TRACKER_MAX_DPS = 1.0


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the spacecraft tells operators about (an eclipse, a link change)."""

    level: Level
    code: str
    message: str


class Spacecraft:
    """The vehicle's state; commands change its attributes, `advance` integrates everything else."""

    def __init__(self, rng: random.Random) -> None:
        self.t = 0.0
        self.mode: Mode = "safe"
        self.array_deployed = False
        self.array_deploying = False
        self.soc = 0.8
        self.battery_current = 0.0
        self.tx_power_dbm = 30
        self.packets = float(rng.randrange(1_000, 50_000))
        self.last_uplink = "none"
        self.self_test = "idle"
        self.boot_offset_s = rng.randrange(3_600, 30 * 86_400)
        self.battery = ThermalNode(18.0, Heater(True, 10.0), 18.0, 6.0, tau_s=150.0, heater_c_per_s=0.3)
        self.tank = ThermalNode(14.0, Heater(False, 20.0), 14.0, -4.0, tau_s=200.0, heater_c_per_s=0.25)
        self.attitude = Attitude(yaw=rng.uniform(-180.0, 180.0), pitch=rng.uniform(-10.0, 10.0))
        self.eclipse = False
        self.link = self._link_state(0.0)
        self.readings: dict[str, Value] = {}
        self.notices: list[Notice] = []
        """Pending notices, for the simulator to report and clear."""
        self.refresh()

    def advance(self, t: float) -> None:
        """Integrate from the last call to `t`, adding to `notices` what operators should hear about."""
        dt = t - self.t
        if dt <= 0.0:
            return
        self.t = t
        notices = self.notices
        eclipse = (t % ORBIT_S) >= ORBIT_S * (1.0 - ECLIPSE_FRACTION)
        if eclipse != self.eclipse:
            self.eclipse = eclipse
            notices.append(
                Notice("info", "eclipse_entry", "Entering eclipse: solar input stops")
                if eclipse
                else Notice("info", "eclipse_exit", "Leaving eclipse: solar input resumes")
            )
        self.battery.advance(dt, eclipse)
        self.tank.advance(dt, eclipse)
        net = self._solar_current() - self._load_current()
        if self.soc >= 1.0 and net > 0.0:
            net = 0.0  # a full battery takes no charge; the excess is shunted
        self.battery_current = net
        self.soc = min(1.0, max(0.0, self.soc + net * dt / CAPACITY_AS))
        link = self._link_state(t)
        if link != self.link:
            if link == "locked":
                notices.append(Notice("info", "link_acquired", "Ground link locked"))
            elif self.link == "locked":
                notices.append(Notice("warning", "link_lost", f"Ground link {link}: margin too low"))
            self.link = link
        if link == "locked":
            self.packets += PACKETS_PER_S * dt
        self.refresh()

    def uplink(self, command: str, command_id: str) -> None:
        """Record a command received from the ground."""
        self.packets += 1.0
        self.last_uplink = f"{command} ({command_id})"
        self.refresh()

    def set_mode(self, mode: Mode) -> None:
        if mode == "safe":
            self.attitude.idle(self.t)
        elif self.attitude.mode == "idle":
            self.attitude.hold(self.t)
        self.mode = mode
        self.refresh()

    def refresh(self) -> None:
        """Recompute `readings` from the state (after `advance` or a command's change)."""
        t = self.t
        yaw, pitch, roll = self.attitude.angles(t)
        rate = self.attitude.rate(t)
        cpu = CPU_PCT[self.mode] + (20.0 if self.self_test == "running" else 0.0)
        self.readings = {
            "battery_voltage": 25.2 + 4.0 * self.soc + 0.08 * self.battery_current,
            "battery_current": self.battery_current,
            "battery_soc": 100.0 * self.soc,
            "solar_array_current": self._solar_current(),
            "solar_array_deployed": self.array_deployed,
            "battery_temp": self.battery.temp_c,
            "propulsion_tank_temp": self.tank.temp_c,
            "battery_heater_on": self.battery.heater.on,
            "propulsion_heater_on": self.tank.heater.on,
            "attitude_yaw_deg": yaw,
            "attitude_pitch_deg": pitch,
            "attitude_roll_deg": roll,
            "angular_rate_dps": rate,
            "attitude_mode": self.attitude.mode,
            "star_tracker_locked": rate < STAR_TRACKER_MAX_DPS,
            "rssi_dbm": self._rssi(t),
            "tx_power_dbm": self.tx_power_dbm,
            "link_state": self.link,
            "packets_received": math.floor(self.packets),
            "last_uplink": self.last_uplink,
            "system_mode": self.mode,
            "uptime_s": self.boot_offset_s + math.floor(t),
            "cpu_load_pct": cpu + (8.0 if self.attitude.mode == "slewing" else 0.0),
            "self_test_status": self.self_test,
            "eclipse": self.eclipse,
        }

    def _solar_current(self) -> float:
        if self.eclipse:
            return 0.0
        if not self.array_deployed:
            return 1.6  # body-mounted panels only
        yaw = self.attitude.angles(self.t)[0]
        return 5.2 * (0.8 + 0.2 * math.cos(math.radians(yaw)))

    def _load_current(self) -> float:
        tx_w = math.pow(10.0, self.tx_power_dbm / 10.0) / 1000.0
        return (
            LOAD_A[self.mode]
            + (0.6 if self.battery.heater.on else 0.0)
            + (0.5 if self.tank.heater.on else 0.0)
            + tx_w / 0.35 / 28.0  # 35 % efficient amplifier on the 28 V bus
            + (0.4 if self.attitude.mode == "slewing" else 0.0)
            + (0.3 if self.self_test == "running" else 0.0)
        )

    def _rssi(self, t: float) -> float:
        return self.tx_power_dbm - 128.0 + 4.0 * math.sin(2.0 * math.pi * t / PASS_S)

    def _link_state(self, t: float) -> str:
        rssi = self._rssi(t)
        return "locked" if rssi >= LOCKED_DBM else "searching" if rssi >= LOST_DBM else "lost"
