"""The SQL that the SQLite and PostgreSQL backends share, so that both select alike.

The two dialects differ in how a parameter is written (`?` or `$1`) and in the column(s) of a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.history.base import Query


@dataclass(frozen=True, slots=True)
class Dialect:
    value_columns: str
    """The column(s) holding a compact point's value."""
    numbered: bool
    """Parameters are `$1`, `$2`, ... (PostgreSQL) rather than `?` (SQLite)."""


SQLITE = Dialect("value", numbered=False)
POSTGRES = Dialect("value", numbered=True)
COLUMNS = "seq, type, id, time_us, payload"


class Statement:
    """Collects the arguments of one statement as its text is written, in the order they appear."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.args: list[object] = []

    def arg(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}" if self.dialect.numbered else "?"

    def among(self, column: str, values: Sequence[str]) -> str:
        if not values:
            return "1 = 0"
        return f"{column} IN ({', '.join(self.arg(v) for v in values)})"

    def among_numbers(self, column: str, values: Sequence[int]) -> str:
        """`column IN (...)` with the numbers written out: a list of small integers the hub made itself,
        which lets the planner see each value (SQLite then seeks the index once per number)."""
        if not values:
            return "1 = 0"
        return f"{column} IN ({', '.join(str(int(v)) for v in values)})"


def select(query: Query, dialect: Dialect) -> tuple[str, list[object]]:
    """The records kept as text (`messages`) that `query` selects, in its order, at most its limit."""
    s = Statement(dialect)
    clauses: list[str] = []
    if query.ids is not None:
        clauses.append(s.among("id", query.ids))
    if query.types is not None:
        clauses.append(s.among("type", query.types))
    for column, operator, value in (
        ("time_us", ">=", query.start_us),
        ("time_us", "<", query.end_us),
        ("seq", ">", query.after_seq),
        ("seq", "<", query.before_seq),
    ):
        if value is not None:
            clauses.append(f"{column} {operator} {s.arg(value)}")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    direction = "ASC" if query.order == "asc" else "DESC"
    sql = f"SELECT {COLUMNS} FROM messages {where} ORDER BY seq {direction} LIMIT {s.arg(query.limit)}"
    return sql, s.args


def select_points(
    sensor: int | None, after_seq: int, before_seq: int | None, query: Query, dialect: Dialect
) -> tuple[str, list[object]]:
    """The compact data points of `sensor` (all when None) with after_seq < seq < before_seq in the
    query's time range, in its order, at most its limit: (seq, sensor, time_us, value...)."""
    s = Statement(dialect)
    clauses = [] if sensor is None else [f"sensor = {s.arg(sensor)}"]
    clauses.append(f"seq > {s.arg(after_seq)}")
    for column, operator, value in (
        ("seq", "<", before_seq),
        ("time_us", ">=", query.start_us),
        ("time_us", "<", query.end_us),
    ):
        if value is not None:
            clauses.append(f"{column} {operator} {s.arg(value)}")
    direction = "ASC" if query.order == "asc" else "DESC"
    sql = (
        f"SELECT seq, sensor, time_us, {dialect.value_columns} FROM points WHERE {' AND '.join(clauses)} "
        f"ORDER BY seq {direction} LIMIT {s.arg(query.limit)}"
    )
    return sql, s.args


def seq_bounds(
    table: str, sensors: Sequence[int], first_bucket: int, last_bucket: int | None, dialect: Dialect
) -> tuple[str, list[object]]:
    """The lowest and highest seq of the rollup rows of `sensors` in buckets first..last (inclusive)."""
    s = Statement(dialect)
    clauses = [s.among_numbers("sensor", sensors), f"bucket >= {s.arg(first_bucket)}"]
    if last_bucket is not None:
        clauses.append(f"bucket <= {s.arg(last_bucket)}")
    sql = f"SELECT min(first_seq), max(first_seq + last_dseq) FROM {table} WHERE {' AND '.join(clauses)}"
    return sql, s.args
