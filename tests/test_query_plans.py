"""Every statement a SQLite query runs reads through an index, never a whole table: each query shape is run
on a real log, the statements SQLite executed are recorded, and their plans (EXPLAIN QUERY PLAN) checked.
A later change that falls back to a scan fails here (PostgreSQL: tests/test_postgres.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hub.history import HistoryLog, Query
from hub.history.base import ChartRequest
from hub.history.sqlite import SqliteHistory
from tests.test_planner import record

T0 = 1_800_000_000_000_000
S = 1_000_000
Shape = Callable[[HistoryLog], Awaitable[object]]


class TracedSqlite(SqliteHistory):
    """The SQLite backend, recording every statement its connections run (with the values bound)."""

    statements: list[str]

    def _connect(self) -> sqlite3.Connection:
        """A connection whose statements are recorded."""
        db = super()._connect()
        db.set_trace_callback(self.statements.append)
        return db


async def _log(path: Path) -> tuple[HistoryLog, TracedSqlite]:
    """A log of three sensors over two hours (and a confirmation), written."""
    backend = TracedSqlite(path)
    backend.statements = []
    log = HistoryLog(backend)
    await log.open()
    for i in range(7200):
        for telemetry_id, value in (("a", i * 0.5), ("b", i), ("c", f"s{i % 7}")):
            if i % (1 if telemetry_id == "a" else 10) == 0:
                log.append(record(log.next_seq(), telemetry_id, T0 + i * S, value))
    await log.flush()
    return log, backend


HOUR = (T0 + 1800 * S, T0 + 5400 * S)
SHAPES: dict[str, Shape] = {
    "ids and a time range": lambda log: log.query(Query(ids=("a",), start_us=HOUR[0], end_us=HOUR[1])),
    "ids and a time range, descending": lambda log: log.query(
        Query(ids=("a", "b"), start_us=HOUR[0], end_us=HOUR[1], order="desc")
    ),
    "ids after a cursor": lambda log: log.query(Query(ids=("b",), after_seq=5000)),
    "ids before a cursor, descending": lambda log: log.query(
        Query(ids=("b",), before_seq=9000, order="desc")
    ),
    "every id after a seq (a resume)": lambda log: log.query(Query(after_seq=9000)),
    "every id in a time range": lambda log: log.query(Query(start_us=HOUR[0], end_us=HOUR[1])),
    "one type": lambda log: log.query(Query(types=("confirmation",), after_seq=10)),
    "latest": lambda log: log.latest(["a", "b", "c"]),
    "chart from rollups with ragged edges": lambda log: log.chart(
        ChartRequest(("a", "b"), T0 + 1800 * S - 300 * S, 15 * 60 * S, HOUR[0] + 1234, HOUR[1] - 777)
    ),
    "chart from raw points": lambda log: log.chart(
        ChartRequest(("a",), HOUR[0], 1_500_000, HOUR[0], HOUR[0] + 60 * S)
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_query_shape_reads_through_an_index(tmp_path: Path, shape: str) -> None:
    """No statement of the query scans `points`, `messages` or a rollup table (the few rows of
    `horizons` may be read whole)."""
    log, backend = await _log(tmp_path / "history.db")
    backend.statements.clear()
    await SHAPES[shape](log)
    selects = [s for s in backend.statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    explain = sqlite3.connect(tmp_path / "history.db")
    try:
        for statement in selects:
            plan = [row[3] for row in explain.execute(f"EXPLAIN QUERY PLAN {statement}")]
            scans = [
                step for step in plan if step.startswith(("SCAN points", "SCAN messages", "SCAN rollup"))
            ]
            assert not scans, f"{statement}\n{plan}"
            touched = " ".join(plan)
            if "FROM points WHERE sensor" in statement:
                assert "points_by_sensor" in touched, f"{statement}\n{plan}"
    finally:
        explain.close()
        await log.close()
