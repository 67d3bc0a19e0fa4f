"""The default history backend: one SQLite file in WAL mode, written from one thread, read from others.

Every call runs in a thread so that the event loop never waits on the disk. Writes go through a single
connection on a single thread (SQLite allows one writer); queries use per-thread read connections, which WAL
lets run while a write is in progress, each read in one transaction (one snapshot).

The layout (hub/history/sqlite_schema.py) keeps data points compactly in `points` (hub/history/compact.py)
with one index, (sensor, seq); a time range is located in it through the 1 min rollups, whose rows hold
each bucket's lowest and highest seq. Rollups of every tier are written in the same transaction as the
points they summarize. Confirmations, notifications and the rare data message that cannot be stored
compactly keep their text in `messages`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from hub.history import planner, rows, sqlite_schema
from hub.history.base import (
    ChartRequest,
    Cutoffs,
    Marks,
    Query,
    Reading,
    Record,
    Stored,
    TierStats,
    in_chart,
)
from hub.history.compact import Kind, compact, payload, value_of
from hub.history.rollup import Point, Summary, by_bucket, columns, combine, levels, unit
from hub.history.sensors import Sensors
from hub.history.tiers import Tier, bounds_tier
from hub.history.tiers import default as default_tiers
from hub.templates import Value

T = TypeVar("T")
NUMERIC_KINDS = ("int", "float")
TRIM_STEPS = 20
"""The size bound deletes the oldest 1/20 of a part's time span at a time, measuring after each step."""


class SqliteHistory:
    name = "sqlite"

    def __init__(self, path: Path, tiers: Sequence[Tier] | None = None) -> None:
        self.path = path
        self.tier_list = default_tiers() if tiers is None else tuple(tiers)
        self._bounds = bounds_tier(self.tier_list)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="history-write")
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="history-read")
        self._local = threading.local()
        self._write_db: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []
        self.sensors = Sensors()
        self._horizons: dict[str, int] = {}

    def check(self) -> None:
        """Create the file and its schema now, so that a path that cannot be used stops start-up at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        try:
            sqlite_schema.prepare(db, self.tier_list)
        finally:
            db.close()

    async def open(self) -> Stored:
        return await self._on(self._writer, self._open)

    def _open(self) -> Stored:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        sqlite_schema.prepare(db, self.tier_list)
        # FULL: a committed batch (and so an acknowledged command) survives a power cut, not only a crash;
        # batching keeps this to about ten fsyncs a second.
        db.execute("PRAGMA synchronous=FULL")
        self._write_db = db
        self.sensors.load(db.execute("SELECT sensor, id, kind FROM sensors").fetchall())
        self._horizons = dict(db.execute("SELECT source, since_us FROM horizons").fetchall())
        sqlite_schema.migrate(db, self._write)
        return self._stored()

    async def stored(self) -> Stored:
        return await self._on(self._writer, self._stored)

    def _stored(self) -> Stored:
        db = self._writing()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        highest = _highest(db)
        count = sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("messages", "points"))
        marks = Marks(meta.get("reserved_seq", 0), meta.get("unrecoverable_seq", 0))
        return Stored(marks, highest, count)

    # --- writing -------------------------------------------------------------------------------------------

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        await self._on(self._writer, self._write, records, marks)

    def _write(self, records: Sequence[Record], marks: Marks | None) -> None:
        db = self._writing()
        points: list[tuple[int, int, int, Value]] = []
        texts: list[tuple[int, str, str | None, int, str]] = []
        added: list[tuple[int, str, Kind]] = []
        by_sensor: dict[int, tuple[list[int], list[int], list[Value]]] = {}
        number = self.sensors.number
        for record in records:
            stored = compact(record) if record.type == "data" else None
            if stored is None or record.id is None:
                texts.append((record.seq, record.type, record.id, record.time_us, record.payload))
                continue
            kind, value = stored
            sensor = number(record.id, kind, added)
            points.append((record.seq, sensor, record.time_us, value))
            columns = by_sensor.get(sensor)
            if columns is None:
                columns = by_sensor[sensor] = ([], [], [])
            columns[0].append(record.seq)
            columns[1].append(record.time_us)
            columns[2].append(value)
        try:
            with db:
                db.executemany("INSERT INTO sensors (sensor, id, kind) VALUES (?, ?, ?)", added)
                db.executemany("INSERT INTO points (seq, sensor, time_us, value) VALUES (?, ?, ?, ?)", points)
                db.executemany(
                    "INSERT INTO messages (seq, type, id, time_us, payload) VALUES (?, ?, ?, ?, ?)", texts
                )
                for sensor, (seqs, times, values) in by_sensor.items():
                    self._roll_up(db, sensor, self._finest(sensor, seqs, times, values))
                if marks is not None:
                    _set_marks(db, marks)
        except BaseException:
            self.sensors.forget(added)
            raise

    def _finest(
        self, sensor: int, seqs: list[int], times: list[int], values: list[Value]
    ) -> dict[int, Summary]:
        """The summaries of a batch's points of `sensor` in the finest tier's buckets."""
        telemetry_id, kind = self.sensors.of(sensor)
        width = self.tier_list[0].width_us
        return columns(telemetry_id, seqs, times, values, width, kind)

    def _roll_up(
        self, db: sqlite3.Connection, sensor: int, finest: dict[int, Summary], tiers: Sequence[Tier] = ()
    ) -> None:
        """Add the summaries `finest` (of one sensor, in buckets of the finest tier or finer) to the rollups
        of `tiers` (by default every tier), in the buckets their horizon has not passed."""
        telemetry_id, kind = self.sensors.of(sensor)
        tiers = tiers or self.tier_list
        for tier, level in zip(tiers, levels(finest, [tier.width_us for tier in tiers]), strict=True):
            since = self._horizons.get(tier.name, 0)
            fresh = {start: summary for start, summary in level.items() if start >= since}
            if not fresh:
                continue
            width = tier.width_us
            buckets = [start // width for start in fresh]
            found = db.execute(
                f"SELECT * FROM {tier.table} WHERE sensor = ? AND bucket IN ({_marks(buckets)})",
                (sensor, *buckets),
            ).fetchall()
            for row in found:
                old = rows.decode(row, telemetry_id, width, kind in NUMERIC_KINDS, self._loader(kind))
                fresh[old.start_us] = combine(old, fresh[old.start_us])
            db.executemany(
                f"INSERT OR REPLACE INTO {tier.table} VALUES ({_marks(rows.COLUMNS)})",
                [rows.encode(sensor, width, summary, _store) for summary in fresh.values()],
            )

    # --- plain queries -------------------------------------------------------------------------------------

    async def query(self, query: Query) -> list[Record]:
        return await self._on(self._readers, self._in_snapshot, self._query, query)

    def _query(self, db: sqlite3.Connection, query: Query) -> list[Record]:
        parts = [self._texts(db, query)]
        if query.types is None or "data" in query.types:
            parts += self._point_records(db, query)
        descending = query.order == "desc"
        merged = heapq.merge(*parts, key=lambda r: r.seq, reverse=descending)
        return list(itertools.islice(merged, query.limit))

    def _texts(self, db: sqlite3.Connection, query: Query) -> list[Record]:
        statement, args = sqlite_schema.select_texts(query)
        return [Record(*row) for row in db.execute(statement, args)]

    def _point_records(self, db: sqlite3.Connection, query: Query) -> list[list[Record]]:
        """Per sensor (or for all, without ids) the data records `query` selects, each list in its order."""
        sensors: list[int | None] = [None]
        if query.ids is not None:
            sensors = list(self.sensors.numbers(query.ids))
        lower, upper = query.after_seq or 0, query.before_seq
        if query.start_us is not None or query.end_us is not None:
            bounds = self._seq_bounds(db, sensors, query.start_us, query.end_us)
            if bounds is None:
                return []
            lower, upper = max(lower, bounds[0] - 1), _least(upper, bounds[1] + 1)
        found = []
        for sensor in sensors:
            statement, args = sqlite_schema.select_points(sensor, lower, upper, query)
            found.append([self._record(*row) for row in db.execute(statement, args)])
        return found

    def _seq_bounds(
        self, db: sqlite3.Connection, sensors: Sequence[int | None], start_us: int | None, end_us: int | None
    ) -> tuple[int, int] | None:
        """The lowest and highest seq of the points of `sensors` in [start, end), or a range that holds them
        all: (1, the largest seq) when the 1 min tier does not reach back that far; None when there are
        none."""
        tier = self._bounds
        if start_us is None or start_us < self._horizon(db, tier.name):
            return 1, 2**62
        numbers = self.sensors.every() if sensors == [None] else [s for s in sensors if s is not None]
        first = start_us // tier.width_us
        last = None if end_us is None else (end_us - 1) // tier.width_us
        statement, args = sqlite_schema.seq_bounds(tier, numbers, first, last)
        low, high = db.execute(statement, args).fetchone()
        return None if low is None else (low, high)

    def _record(self, seq: int, sensor: int, time_us: int, stored: Any) -> Record:
        telemetry_id, kind = self.sensors.of(sensor)
        value = _load(kind, stored)
        return Record(seq, "data", telemetry_id, time_us, payload(telemetry_id, seq, time_us, value), value)

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        return await self._on(self._readers, self._in_snapshot, self._latest, ids)

    def _latest(self, db: sqlite3.Connection, ids: Sequence[str]) -> list[Record]:
        found = []
        for telemetry_id in ids:
            candidates = [
                self._record(*row)
                for sensor in self.sensors.numbers([telemetry_id])
                for row in db.execute(
                    "SELECT seq, sensor, time_us, value FROM points WHERE sensor = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (sensor,),
                )
            ]
            candidates += [
                Record(*row)
                for row in db.execute(
                    "SELECT seq, type, id, time_us, payload FROM messages WHERE id = ? AND type = 'data' "
                    "ORDER BY seq DESC LIMIT 1",
                    (telemetry_id,),
                )
            ]
            if candidates:
                found.append(max(candidates, key=lambda r: r.seq))
        return found

    # --- charts --------------------------------------------------------------------------------------------

    async def read(self, request: ChartRequest) -> Reading:
        return await self._on(self._readers, self._in_snapshot, self._read, request)

    def _read(self, db: sqlite3.Connection, request: ChartRequest) -> Reading:
        horizons = dict(db.execute("SELECT source, since_us FROM horizons").fetchall())
        sensors = list(self.sensors.numbers(request.ids))
        parts: list[Summary] = []
        for span in planner.spans(request, self.tier_list, horizons):
            if span.tier is None:
                parts += self._units(db, sensors, span.start_us, span.end_us)
            else:
                parts += self._rollups(db, span.tier, sensors, span.start_us, span.end_us)
        texts = Query(request.ids, ("data",), request.start_us, request.end_us, limit=2**62)
        for record in self._texts(db, texts):
            value = value_of(record)
            if value is not None and record.id is not None and in_chart(record, request):
                parts.append(unit(record.id, Point(record.seq, record.time_us, value)))
        return Reading(parts, _highest(db))

    def _rollups(
        self, db: sqlite3.Connection, tier: Tier, sensors: Sequence[int], start_us: int, end_us: int
    ) -> Iterator[Summary]:
        width = tier.width_us
        statement = (
            f"SELECT * FROM {tier.table} WHERE sensor = ? AND bucket >= ? AND bucket < ? ORDER BY bucket"
        )
        for sensor in sensors:
            telemetry_id, kind = self.sensors.of(sensor)
            load, numeric = self._loader(kind), kind in NUMERIC_KINDS
            for row in db.execute(statement, (sensor, start_us // width, -(-end_us // width))):
                yield rows.decode(row, telemetry_id, width, numeric, load)

    def _units(
        self, db: sqlite3.Connection, sensors: Sequence[int], start_us: int, end_us: int
    ) -> list[Summary]:
        query = Query(start_us=start_us, end_us=end_us, limit=2**62)
        units = []
        for sensor in sensors:
            for record in self._point_records_of(db, sensor, query):
                if record.id is not None and record.value is not None:
                    units.append(unit(record.id, Point(record.seq, record.time_us, record.value)))
        return units

    def _point_records_of(self, db: sqlite3.Connection, sensor: int, query: Query) -> list[Record]:
        """The data records of one sensor in the query's time range, every one (no paging)."""
        bounds = self._seq_bounds(db, [sensor], query.start_us, query.end_us)
        if bounds is None:
            return []
        statement, args = sqlite_schema.select_points(sensor, bounds[0] - 1, bounds[1] + 1, query)
        return [self._record(*row) for row in db.execute(statement, args)]

    # --- deleting ------------------------------------------------------------------------------------------

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        return await self._on(self._writer, self._delete, before_us)

    def _delete(self, before_us: int | None) -> tuple[int, int]:
        db = self._writing()
        if before_us is None:
            with db:
                result = self._delete_raw(db, None)
                for tier in self.tier_list:
                    db.execute(f"DELETE FROM {tier.table}")
                db.execute("DELETE FROM horizons")
            self._horizons = {}
            return result
        exact = self._horizons.get(planner.RAW, 0) <= before_us
        straddled = [tier for tier in self.tier_list if before_us % tier.width_us] if exact else []
        with db:
            # what is left of each bucket that straddles before_us, read before the raw records go
            rests = {tier.name: self._rest(db, tier, before_us) for tier in straddled}
            result = self._delete_raw(db, before_us)
            for tier in self.tier_list:
                first_kept = before_us // tier.width_us
                db.execute(f"DELETE FROM {tier.table} WHERE bucket < ?", (first_kept,))
                if tier in straddled:
                    db.execute(f"DELETE FROM {tier.table} WHERE bucket = ?", (first_kept,))
                    for sensor, points in rests[tier.name].items():
                        telemetry_id, _ = self.sensors.of(sensor)
                        self._roll_up(db, sensor, by_bucket(telemetry_id, points, tier.width_us), (tier,))
                self._move_horizon(db, tier.name, before_us if exact else first_kept * tier.width_us)
        return result

    def _rest(self, db: sqlite3.Connection, tier: Tier, before_us: int) -> dict[int, list[Point]]:
        """The points of the bucket of `tier` that straddles `before_us`, from `before_us` on, by sensor."""
        end = before_us - before_us % tier.width_us + tier.width_us
        query = Query(start_us=before_us, end_us=end, limit=2**62)
        rest: dict[int, list[Point]] = {}
        for sensor in self.sensors.every():
            points = [
                Point(r.seq, r.time_us, r.value)
                for r in self._point_records_of(db, sensor, query)
                if r.value is not None
            ]
            if points:
                rest[sensor] = points
        return rest

    async def expire(self, cutoffs: Cutoffs) -> tuple[int, int]:
        return await self._on(self._writer, self._expire, cutoffs)

    def _expire(self, cutoffs: Cutoffs) -> tuple[int, int]:
        db = self._writing()
        with db:
            for tier in self.tier_list:
                cutoff = cutoffs.tiers.get(tier.name)
                if cutoff is not None:
                    first_kept = cutoff // tier.width_us
                    db.execute(f"DELETE FROM {tier.table} WHERE bucket < ?", (first_kept,))
                    self._move_horizon(db, tier.name, first_kept * tier.width_us)
            if cutoffs.raw_us is None:
                return 0, 0
            return self._delete_raw(db, cutoffs.raw_us)

    def _delete_raw(self, db: sqlite3.Connection, before_us: int | None) -> tuple[int, int]:
        """Delete the raw records older than `before_us` (all when None), in the caller's transaction."""
        if before_us is None:
            counted = [_count_and_highest(db, table, "", ()) for table in ("points", "messages")]
            db.execute("DELETE FROM points")
            db.execute("DELETE FROM messages")
        else:
            bounds = self._seq_bounds(db, [None], self._horizons.get(planner.RAW, 0), before_us) or (0, 0)
            points = ("WHERE seq <= ? AND time_us < ?", (bounds[1], before_us))
            texts = ("WHERE time_us < ?", (before_us,))
            counted = [_count_and_highest(db, "points", *points), _count_and_highest(db, "messages", *texts)]
            db.execute(f"DELETE FROM points {points[0]}", points[1])
            db.execute(f"DELETE FROM messages {texts[0]}", texts[1])
            self._move_horizon(db, planner.RAW, before_us)
        deleted, highest = sum(c for c, _ in counted), max(h for _, h in counted)
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('unrecoverable_seq', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            (highest,),
        )
        return deleted, highest

    def _move_horizon(self, db: sqlite3.Connection, source: str, since_us: int) -> None:
        since_us = max(since_us, self._horizons.get(source, 0))
        db.execute(
            "INSERT INTO horizons (source, since_us) VALUES (?, ?) "
            "ON CONFLICT (source) DO UPDATE SET since_us = excluded.since_us",
            (source, since_us),
        )
        self._horizons[source] = since_us

    def _horizon(self, db: sqlite3.Connection, source: str) -> int:
        row = db.execute("SELECT since_us FROM horizons WHERE source = ?", (source,)).fetchone()
        return 0 if row is None else int(row[0])

    async def trim(self, max_bytes: int) -> tuple[int, int]:
        return await self._on(self._writer, self._trim, max_bytes)

    def _trim(self, max_bytes: int) -> tuple[int, int]:
        """Delete the oldest 1/20 of the raw records' span at a time while the log uses more than
        `max_bytes`; then the same with each tier, finest first."""
        db = self._writing()
        deleted, highest = 0, 0
        for part in (None, *self.tier_list):
            while _bytes_in_use(db) > max_bytes:
                span = self._span(db, part)
                if span is None:
                    break
                oldest, newest = span
                cut = oldest + max((newest - oldest) // TRIM_STEPS, 1)
                if part is None:
                    with db:
                        count, top = self._delete_raw(db, cut)
                    deleted, highest = deleted + count, max(highest, top)
                else:
                    self._expire(Cutoffs(None, {part.name: max(cut, oldest + part.width_us)}))
        return deleted, highest

    def _span(self, db: sqlite3.Connection, part: Tier | None) -> tuple[int, int] | None:
        if part is None:
            low = db.execute("SELECT min(time_us), max(time_us) FROM messages").fetchone()
            first = db.execute("SELECT time_us FROM points ORDER BY seq LIMIT 1").fetchone()
            last = db.execute("SELECT time_us FROM points ORDER BY seq DESC LIMIT 1").fetchone()
            times = [t for t in (*low, first and first[0], last and last[0]) if t is not None]
            return (min(times), max(times)) if times else None
        low, high = db.execute(f"SELECT min(bucket), max(bucket) FROM {part.table}").fetchone()
        return None if low is None else (low * part.width_us, (high + 1) * part.width_us)

    async def tiers(self) -> list[TierStats]:
        return await self._on(self._readers, self._in_snapshot, self._tiers)

    def _tiers(self, db: sqlite3.Connection) -> list[TierStats]:
        sizes = sqlite_schema.sizes(db, self.tier_list)
        raw_rows = sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("points", "messages"))
        raw_span = self._span(db, None)
        stats = [TierStats(planner.RAW, raw_rows, sizes.get(planner.RAW), *(raw_span or (None, None)))]
        for tier in self.tier_list:
            count = db.execute(f"SELECT count(*) FROM {tier.table}").fetchone()[0]
            span = self._span(db, tier)
            stats.append(TierStats(tier.name, count, sizes.get(tier.name), *(span or (None, None))))
        return stats

    # --- connections ---------------------------------------------------------------------------------------

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

    def _in_snapshot(self, read: Callable[..., T], *args: Any) -> T:
        """`read(db, *args)` on this thread's read connection, in one read transaction."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only=ON")
            self._local.db = db
        db.execute("BEGIN")
        try:
            return read(db, *args)
        finally:
            db.rollback()

    def _loader(self, kind: Kind) -> Callable[[Any], Value]:
        return lambda stored: _load(kind, stored)

    @staticmethod
    async def _on(executor: ThreadPoolExecutor, call: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, call, *args)


def _store(value: Value) -> Value:
    return value


def _load(kind: Kind, stored: Any) -> Value:
    if kind == "bool":
        return bool(stored)
    return stored  # type: ignore[no-any-return]


def _marks(values: Iterable[object]) -> str:
    return ", ".join("?" for _ in values)


def _least(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _highest(db: sqlite3.Connection) -> int:
    return max(db.execute(f"SELECT max(seq) FROM {t}").fetchone()[0] or 0 for t in ("points", "messages"))


def _count_and_highest(
    db: sqlite3.Connection, table: str, where: str, args: tuple[Any, ...]
) -> tuple[int, int]:
    count, highest = db.execute(f"SELECT count(*), max(seq) FROM {table} {where}", args).fetchone()
    return count, highest or 0


def _bytes_in_use(db: sqlite3.Connection) -> int:
    pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages * db.execute("PRAGMA page_size").fetchone()[0])


def _set_marks(db: sqlite3.Connection, marks: Marks) -> None:
    db.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("reserved_seq", marks.reserved_seq), ("unrecoverable_seq", marks.unrecoverable_seq)],
    )
