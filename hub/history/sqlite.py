"""The default history backend: one SQLite file in WAL mode, written from one thread, read from others.

Every call runs in a thread so that the event loop never waits on the disk. Writes go through a single
connection on a single thread (SQLite allows one writer); queries use per-thread read connections, which WAL
lets run while a write is in progress.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from hub.history import sql
from hub.history.base import Buckets, Marks, Query, Record, Stored, Summary

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq     INTEGER PRIMARY KEY,
    type    TEXT    NOT NULL,
    id      TEXT,
    time_us INTEGER NOT NULL,
    payload TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_id ON messages (id, seq);
CREATE INDEX IF NOT EXISTS messages_by_type ON messages (type, seq);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (time_us);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteHistory:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="history-write")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="history-read")
        self._local = threading.local()
        self._write_db: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []

    def check(self) -> None:
        """Create the file and its schema now, so that a path that cannot be used stops start-up at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        try:
            _prepare(db)
        finally:
            db.close()

    async def open(self) -> Stored:
        return await self._on(self._writer, self._open)

    def _open(self) -> Stored:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        _prepare(db)
        # FULL: a committed batch (and so an acknowledged command) survives a power cut, not only a crash;
        # batching keeps this to about ten fsyncs a second.
        db.execute("PRAGMA synchronous=FULL")
        self._write_db = db
        return self._stored()

    async def stored(self) -> Stored:
        return await self._on(self._writer, self._stored)

    def _stored(self) -> Stored:
        db = self._writing()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        highest = db.execute("SELECT max(seq) FROM messages").fetchone()[0] or 0
        count = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        marks = Marks(meta.get("reserved_seq", 0), meta.get("unrecoverable_seq", 0))
        return Stored(marks, highest, count)

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        await self._on(self._writer, self._write, records, marks)

    def _write(self, records: Sequence[Record], marks: Marks) -> None:
        db = self._writing()
        with db:
            db.executemany(
                "INSERT INTO messages (seq, type, id, time_us, payload) VALUES (?, ?, ?, ?, ?)",
                [(r.seq, r.type, r.id, r.time_us, r.payload) for r in records],
            )
            _set_marks(db, marks)

    async def query(self, query: Query) -> list[Record]:
        return await self._on(self._readers, self._query, query)

    def _query(self, query: Query) -> list[Record]:
        statement, args = sql.select(query, sql.SQLITE)
        return [Record(*row) for row in self._reading().execute(statement, args).fetchall()]

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        return await self._on(self._readers, self._latest, ids)

    def _latest(self, ids: Sequence[str]) -> list[Record]:
        db = self._reading()
        found = []
        for telemetry_id in ids:
            row = db.execute(
                "SELECT seq, type, id, time_us, payload FROM messages WHERE id = ? AND type = 'data' "
                "ORDER BY seq DESC LIMIT 1",
                (telemetry_id,),
            ).fetchone()
            if row:
                found.append(Record(*row))
        return found

    async def summarize(self, buckets: Buckets) -> list[Summary]:
        return await self._on(self._readers, self._summarize, buckets)

    def _summarize(self, buckets: Buckets) -> list[Summary]:
        statement, args = sql.summaries(buckets, sql.SQLITE)
        return [Summary(*row) for row in self._reading().execute(statement, args).fetchall()]

    async def extremes(self, buckets: Buckets) -> list[Record]:
        return await self._on(self._readers, self._extremes, buckets)

    def _extremes(self, buckets: Buckets) -> list[Record]:
        statement, args = sql.extremes(buckets, sql.SQLITE)
        return [Record(*row) for row in self._reading().execute(statement, args).fetchall()]

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        return await self._on(self._writer, self._delete, before_us)

    def _delete(self, before_us: int | None) -> tuple[int, int]:
        db = self._writing()
        where, args = ("", ()) if before_us is None else ("WHERE time_us < ?", (before_us,))
        with db:
            highest = db.execute(f"SELECT max(seq) FROM messages {where}", args).fetchone()[0] or 0
            deleted = db.execute(f"DELETE FROM messages {where}", args).rowcount
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('unrecoverable_seq', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                (highest,),
            )
        return deleted, highest

    async def close(self, marks: Marks | None) -> None:
        await asyncio.to_thread(self._readers.shutdown)  # lets running queries finish first
        try:
            await self._on(self._writer, self._close, marks)
        finally:
            self._writer.shutdown()

    def _close(self, marks: Marks | None) -> None:
        db = self._writing()
        if marks is not None:
            with db:
                _set_marks(db, marks)
        self._write_db = None
        for connection in self._connections:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False)
        self._connections.append(db)
        return db

    def _writing(self) -> sqlite3.Connection:
        if self._write_db is None:
            raise RuntimeError("the SQLite history is not open")
        return self._write_db

    def _reading(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only=ON")
            self._local.db = db
        return db

    @staticmethod
    async def _on(executor: ThreadPoolExecutor, call: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, call, *args)


def _prepare(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)


def _set_marks(db: sqlite3.Connection, marks: Marks) -> None:
    db.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("reserved_seq", marks.reserved_seq), ("unrecoverable_seq", marks.unrecoverable_seq)],
    )
