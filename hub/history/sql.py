"""The SQL that the SQLite and PostgreSQL backends share, so that both filter, bucket and rank alike.

The two dialects differ only in how a parameter is written (`?` or `$1`) and how a data record's value is
read from its stored JSON as a number. Buckets are numbered by integer division of `time_us - origin_us`,
which is never negative (`origin_us <= start_us`), so SQL's truncating division is the floor that the
Python reference (`aggregate.py`) uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.history.base import Buckets, Query


@dataclass(frozen=True, slots=True)
class Dialect:
    number: str
    """SQL giving the `value` of the JSON in the column `payload` as a number."""
    total: str
    """The aggregate function summing numbers (SQLite's total never overflows: it sums in floating point)."""
    data: str
    """The condition `type = 'data'`. SQLite's planner would pick the (type, seq) index for it and scan every
    data record; the unary + keeps it off that index, so that it uses the id's."""
    numbered: bool
    """Parameters are `$1`, `$2`, ... (PostgreSQL) rather than `?` (SQLite)."""


SQLITE = Dialect("json_extract(payload, '$.value')", "total", "+type = 'data'", numbered=False)
POSTGRES = Dialect("(payload::json ->> 'value')::numeric", "sum", "type = 'data'", numbered=True)
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


def select(query: Query, dialect: Dialect) -> tuple[str, list[object]]:
    """The records `query` selects, in its order, at most its limit."""
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


def _points(s: Statement, buckets: Buckets, columns: str) -> str:
    """The records `buckets` covers, with their bucket number and `columns`."""
    bucket = f"(time_us - {s.arg(buckets.origin_us)}) / {s.arg(buckets.width_us)}"
    clauses = [s.dialect.data, s.among("id", buckets.ids), f"time_us >= {s.arg(buckets.start_us)}"]
    if buckets.end_us is not None:
        clauses.append(f"time_us < {s.arg(buckets.end_us)}")
    if buckets.before_seq is not None:
        clauses.append(f"seq < {s.arg(buckets.before_seq)}")
    return f"SELECT {columns}, {bucket} AS bucket FROM messages WHERE {' AND '.join(clauses)}"


def summaries(buckets: Buckets, dialect: Dialect) -> tuple[str, list[object]]:
    """Rows (id, bucket, count, low, high, total, first_seq, first payload, last_seq, last payload).

    Groups first, then joins each group's first and last record by primary key: two lookups per bucket."""
    s = Statement(dialect)
    value = f", {dialect.number} AS v" if buckets.numeric else ""
    numbers = f"min(v) AS low, max(v) AS high, {dialect.total}(v) AS total"
    groups = (
        "SELECT id, bucket, count(*) AS n, "
        f"{numbers if buckets.numeric else 'NULL AS low, NULL AS high, NULL AS total'}, "
        "min(seq) AS first_seq, max(seq) AS last_seq "
        f"FROM ({_points(s, buckets, f'id, seq{value}')}) AS points "
        f"GROUP BY id, bucket ORDER BY id, bucket LIMIT {s.arg(buckets.limit)}"
    )
    sql = (
        "SELECT g.id, g.bucket, g.n, g.low, g.high, g.total, g.first_seq, f.payload, g.last_seq, l.payload "
        f"FROM ({groups}) AS g "
        "JOIN messages AS f ON f.seq = g.first_seq JOIN messages AS l ON l.seq = g.last_seq "
        "ORDER BY g.id, g.bucket"
    )
    return sql, s.args


def extremes(buckets: Buckets, dialect: Dialect) -> tuple[str, list[object]]:
    """Per id and bucket the records of the lowest and the highest value (ties: lowest seq), by seq."""
    s = Statement(dialect)
    ranked = (
        f"SELECT {COLUMNS}, "
        "row_number() OVER (PARTITION BY id, bucket ORDER BY v, seq) AS low, "
        "row_number() OVER (PARTITION BY id, bucket ORDER BY v DESC, seq) AS high "
        f"FROM ({_points(s, buckets, f'{COLUMNS}, {dialect.number} AS v')}) AS points"
    )
    return f"SELECT {COLUMNS} FROM ({ranked}) AS ranked WHERE low = 1 OR high = 1 ORDER BY seq", s.args
