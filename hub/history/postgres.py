"""A history backend on PostgreSQL (asyncpg, a connection pool), for a log that several hubs share.

The tables match SQLite's, plus an (id, time_us) index for aggregates over a time range. Several hub
processes may use one database, one writing at a time (a standby takes over from a hub that stopped or
died). `seq` stays unique across them because the marks row only moves forward: every write raises
`reserved_seq` with GREATEST, so a process that opens continues above everything any other reserved. The one
exception is a clean close, which hands back the unused part of its own reservation (so that a clean restart
leaves no gap), and only while no other process has reserved since: otherwise it leaves the mark alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from hub.history import sql
from hub.history.base import Buckets, Marks, Number, Query, Record, Stored, Summary

CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0
"""A statement still running after this fails (the log retries writes; a query answers 503)."""

SCHEMA_LOCK = 7305938120481
"""An advisory lock key: two hubs starting at once must not race on CREATE ... IF NOT EXISTS."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq     BIGINT PRIMARY KEY,
    type    TEXT   NOT NULL,
    id      TEXT   COLLATE "C",
    time_us BIGINT NOT NULL,
    payload TEXT   NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_id ON messages (id, seq);
CREATE INDEX IF NOT EXISTS messages_by_id_time ON messages (id, time_us);
CREATE INDEX IF NOT EXISTS messages_by_type ON messages (type, seq);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (time_us);
CREATE TABLE IF NOT EXISTS marks (
    one               BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    reserved_seq      BIGINT  NOT NULL,
    unrecoverable_seq BIGINT  NOT NULL
);
INSERT INTO marks (reserved_seq, unrecoverable_seq) VALUES (0, 0) ON CONFLICT DO NOTHING;
"""


class PostgresHistory:
    """`url` is a libpq-style URL (postgresql://user:password@host:port/database). `schema`, if given, is
    created when missing and holds the tables (the tests give each test one of its own)."""

    name = "postgres"

    def __init__(self, url: str, schema: str | None = None, pool_size: int = 4) -> None:
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self._pool: Any = None
        self._reserved = 0  # what this process last wrote as reserved_seq

    def check(self) -> None:
        """Connect and create the schema now, so that an unreachable server stops start-up with a message.

        Runs its own event loop in a thread: start-up may happen with or without a loop running."""
        error: list[Exception] = []

        def attempt() -> None:
            try:
                asyncio.run(self._check())
            except Exception as problem:
                error.append(problem)

        thread = threading.Thread(target=attempt, name="postgres-check")
        thread.start()
        thread.join()
        if error:
            raise error[0]

    async def _check(self) -> None:
        connection = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
        try:
            await self._prepare(connection)
        finally:
            await connection.close()

    async def _prepare(self, connection: Any) -> None:
        async with connection.transaction():
            await connection.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
            if self.schema is not None:
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(self.schema)}")
                await connection.execute(f"SET LOCAL search_path TO {_quoted(self.schema)}")
            await connection.execute(_SCHEMA)

    async def open(self) -> Stored:
        settings = {} if self.schema is None else {"search_path": _quoted(self.schema)}
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            server_settings=settings,
        )
        async with self._pool.acquire() as connection:
            await self._prepare(connection)
        stored = await self.stored()
        self._reserved = stored.marks.reserved_seq
        return stored

    async def stored(self) -> Stored:
        async with self._pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
            marks = await connection.fetchrow("SELECT reserved_seq, unrecoverable_seq FROM marks")
            highest, count = await connection.fetchrow("SELECT coalesce(max(seq), 0), count(*) FROM messages")
        return Stored(Marks(marks["reserved_seq"], marks["unrecoverable_seq"]), highest, count)

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            if records:
                await connection.copy_records_to_table(
                    "messages",
                    records=[(r.seq, r.type, r.id, r.time_us, r.payload) for r in records],
                    columns=["seq", "type", "id", "time_us", "payload"],
                )
            await connection.execute(
                "UPDATE marks SET reserved_seq = GREATEST(reserved_seq, $1), "
                "unrecoverable_seq = GREATEST(unrecoverable_seq, $2)",
                marks.reserved_seq,
                marks.unrecoverable_seq,
            )
        self._reserved = max(self._reserved, marks.reserved_seq)

    async def query(self, query: Query) -> list[Record]:
        return await self._records(*sql.select(query, sql.POSTGRES))

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        return await self._records(
            "SELECT m.seq, m.type, m.id, m.time_us, m.payload FROM unnest($1::text[]) AS wanted (id) "
            "CROSS JOIN LATERAL (SELECT * FROM messages WHERE messages.id = wanted.id AND type = 'data' "
            "ORDER BY seq DESC LIMIT 1) AS m",
            [list(ids)],
        )

    async def summarize(self, buckets: Buckets) -> list[Summary]:
        statement, args = sql.summaries(buckets, sql.POSTGRES)
        rows = await self._pool.fetch(statement, *args)
        return [
            Summary(
                id,
                bucket,
                count,
                _number(low),
                _number(high),
                None if total is None else float(total),
                first_seq,
                first,
                last_seq,
                last,
            )
            for id, bucket, count, low, high, total, first_seq, first, last_seq, last in rows
        ]

    async def extremes(self, buckets: Buckets) -> list[Record]:
        return await self._records(*sql.extremes(buckets, sql.POSTGRES))

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        where, args = ("", []) if before_us is None else ("WHERE time_us < $1", [before_us])
        async with self._pool.acquire() as connection, connection.transaction():
            deleted, highest = await connection.fetchrow(
                f"WITH gone AS (DELETE FROM messages {where} RETURNING seq) "
                "SELECT count(*), coalesce(max(seq), 0) FROM gone",
                *args,
            )
            await connection.execute(
                "UPDATE marks SET unrecoverable_seq = GREATEST(unrecoverable_seq, $1)", highest
            )
        return deleted, highest

    async def close(self, marks: Marks | None) -> None:
        """Record the final marks: `reserved_seq` may go down to the last seq used only if it still is what
        this process reserved (no other process has taken numbers since); then close the pool."""
        if self._pool is None:
            return
        try:
            if marks is None:
                return
            await self._pool.execute(
                "UPDATE marks SET reserved_seq = CASE WHEN reserved_seq = $1 THEN $2 "
                "ELSE GREATEST(reserved_seq, $2) END, unrecoverable_seq = GREATEST(unrecoverable_seq, $3)",
                self._reserved,
                marks.reserved_seq,
                marks.unrecoverable_seq,
            )
        finally:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _records(self, statement: str, args: list[object]) -> list[Record]:
        return [Record(*row) for row in await self._pool.fetch(statement, *args)]


def _number(value: Decimal | None) -> Number | None:
    """A NUMERIC read from JSON as the int or float that the JSON number was (28 or 28.0)."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
