"""The SQLite log's tables, the statements only SQLite runs, and the migration of a log written before the
compact layout.

`PRAGMA user_version` is the layout: 0 a log of the previous version (every message as text in
`messages`), 2 the compact one. A previous version's log is migrated as the hub opens it: its data messages
move to `points` in chunks, with their rollups, and the rest stays.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence

from hub.history import sql
from hub.history.base import Marks, Query, Record
from hub.history.tiers import Tier

log = logging.getLogger(__name__)

LAYOUT = 2
MIGRATION_CHUNK = 50_000

_TABLES = """
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
CREATE INDEX IF NOT EXISTS messages_by_id_time ON messages (id, time_us);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS horizons (source TEXT PRIMARY KEY, since_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sensors (
    sensor INTEGER PRIMARY KEY,
    id     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    UNIQUE (id, kind)
);
-- value has no declared type: SQLite keeps each value as given (integer, real or text), unconverted
CREATE TABLE IF NOT EXISTS points (
    seq     INTEGER PRIMARY KEY,
    sensor  INTEGER NOT NULL,
    time_us INTEGER NOT NULL,
    value           NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_sensor ON points (sensor, seq);
"""


def _rollup_table(tier: Tier) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {tier.table} (
    sensor     INTEGER NOT NULL,
    bucket     INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    first_seq  INTEGER NOT NULL,
    first_dt   INTEGER NOT NULL,
    first_value        NOT NULL,
    last_dseq  INTEGER NOT NULL,
    last_dt    INTEGER,
    last_value,
    low_dseq   INTEGER,
    low_dt     INTEGER,
    low_value,
    high_dseq  INTEGER,
    high_dt    INTEGER,
    high_value,
    total,
    total_exp  INTEGER,
    PRIMARY KEY (sensor, bucket)
) WITHOUT ROWID;
"""


def prepare(db: sqlite3.Connection, tiers: Sequence[Tier]) -> None:
    """Create what is missing. A tier added to a log that holds data starts now: its horizon is set past
    the newest data, so that charts take older times from the other tiers."""
    db.execute("PRAGMA journal_mode=WAL")
    existing = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.executescript(_TABLES)
    newest = _newest(db)
    with db:
        for tier in tiers:
            if tier.table in existing:
                continue
            db.executescript(_rollup_table(tier))
            if newest is not None and "points" in existing:
                since = newest - newest % tier.width_us + tier.width_us
                db.execute(
                    "INSERT OR REPLACE INTO horizons (source, since_us) VALUES (?, ?)", (tier.name, since)
                )
        if "points" not in existing and not _holds_data(db):
            db.execute(f"PRAGMA user_version = {LAYOUT}")


def migrate(db: sqlite3.Connection, write: Callable[[Sequence[Record], Marks | None], None]) -> None:
    """Move the data messages of a previous version's log to the compact layout (`write` stores them as
    the log writes a batch); nothing to do when the log already has the layout."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= LAYOUT:
        return
    total = db.execute("SELECT count(*) FROM messages WHERE type = 'data'").fetchone()[0]
    log.warning(
        "history: migrating %d data messages of %s to the compact layout; the hub starts when it is done",
        total,
        db.execute("PRAGMA database_list").fetchone()[2],
    )
    started, moved, after = time.monotonic(), 0, 0
    while True:
        chunk = [
            Record(*row)
            for row in db.execute(
                "SELECT seq, type, id, time_us, payload FROM messages WHERE type = 'data' AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (after, MIGRATION_CHUNK),
            )
        ]
        if not chunk:
            break
        after = chunk[-1].seq
        with db:
            db.executemany("DELETE FROM messages WHERE seq = ?", [(r.seq,) for r in chunk])
            write(chunk, None)  # its own transaction is this one: nested `with db` does not commit early
        moved += len(chunk)
        log.info("history: migrated %d of %d data messages", moved, total)
    db.execute(f"PRAGMA user_version = {LAYOUT}")
    log.warning(
        "history: migrated %d data messages in %.1f s; the file keeps its size until new data fills the "
        "pages freed (VACUUM it while the hub is stopped to shrink it at once)",
        moved,
        time.monotonic() - started,
    )


def _holds_data(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM messages WHERE type = 'data' LIMIT 1").fetchone() is not None


def _newest(db: sqlite3.Connection) -> int | None:
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    times = [
        db.execute(f"SELECT max(time_us) FROM {table}").fetchone()[0]
        for table in ("points", "messages")
        if table in tables
    ]
    found = [t for t in times if t is not None]
    return max(found) if found else None


def select_texts(query: Query) -> tuple[str, list[object]]:
    return sql.select(query, sql.SQLITE)


def select_points(
    sensor: int | None, after_seq: int, before_seq: int | None, query: Query
) -> tuple[str, list[object]]:
    return sql.select_points(sensor, after_seq, before_seq, query, sql.SQLITE)


def seq_bounds(
    tier: Tier, sensors: Sequence[int], first_bucket: int, last_bucket: int | None
) -> tuple[str, list[object]]:
    return sql.seq_bounds(tier.table, sensors, first_bucket, last_bucket, sql.SQLITE)


def sizes(db: sqlite3.Connection, tiers: Sequence[Tier]) -> dict[str, int]:
    """Bytes of the raw log (every table and index but the rollups) and of each tier, where SQLite has
    its `dbstat` table; else nothing."""
    try:
        found = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:
        return {}
    tables = {tier.table: tier.name for tier in tiers}
    sizes: dict[str, int] = {}
    for name, size in found:
        part = tables.get(name, "raw")
        sizes[part] = sizes.get(part, 0) + int(size)
    return sizes
