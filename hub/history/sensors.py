"""Sensors: the small integers the compact log stores for an id and the kind of its values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hub.history.compact import Kind


class Sensors:
    """Both ways between sensor numbers and (id, kind). Written by the one writing thread; read by any
    (each change replaces a dict, so a reader never sees one half made)."""

    def __init__(self) -> None:
        self._of: dict[int, tuple[str, Kind]] = {}
        self._number: dict[tuple[str, Kind], int] = {}

    def load(self, rows: Iterable[Sequence[Any]]) -> None:
        """(sensor, id, kind) rows as stored."""
        found = {int(sensor): (str(telemetry_id), kind) for sensor, telemetry_id, kind in rows}
        self._of = found
        self._number = {pair: sensor for sensor, pair in found.items()}

    def number(self, telemetry_id: str, kind: Kind, added: list[tuple[int, str, Kind]]) -> int:
        """The sensor of (id, kind); a new one is numbered and appended to `added`, to be stored."""
        sensor = self._number.get((telemetry_id, kind))
        if sensor is None:
            sensor = max(self._of, default=0) + 1
            self._of = {**self._of, sensor: (telemetry_id, kind)}
            self._number = {**self._number, (telemetry_id, kind): sensor}
            added.append((sensor, telemetry_id, kind))
        return sensor

    def forget(self, added: Iterable[tuple[int, str, Kind]]) -> None:
        """The write that would have stored `added` failed."""
        gone = {sensor for sensor, _, _ in added}
        if gone:
            self.load((s, i, k) for s, (i, k) in self._of.items() if s not in gone)

    def find(self, telemetry_id: str, kind: Kind) -> int | None:
        """The sensor of (id, kind) if it is known here, without numbering a new one (PostgreSQL numbers
        sensors in the database, so that processes sharing it agree)."""
        return self._number.get((telemetry_id, kind))

    def of(self, sensor: int) -> tuple[str, Kind]:
        return self._of[sensor]

    def every(self) -> list[int]:
        return list(self._of)

    def numbers(self, ids: Sequence[str]) -> list[int]:
        """The sensors of `ids`, in the order of `ids` (an id may have one per kind of value)."""
        order = {telemetry_id: index for index, telemetry_id in enumerate(ids)}
        found = [sensor for sensor, (telemetry_id, _) in self._of.items() if telemetry_id in order]
        return sorted(found, key=lambda sensor: order[self._of[sensor][0]])
