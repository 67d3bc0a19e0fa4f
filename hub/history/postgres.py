"""A history backend on PostgreSQL (asyncpg, a connection pool), for a log that several hubs share.

The layout is SQLite's (hub/history/sqlite.py; tables in hub/history/postgres_schema.py): data points in
`points` (seq, sensor, time, value) with one index, (sensor, seq); a time range located in it through the
1 min rollups; rollups of every tier written in the same transaction as the points they summarize; the
other messages as text in `messages`.

A value is stored as its JSON text (orjson, the encoder the hub streams with), in a TEXT column, and read
back with orjson: every bool, 64-bit int, float (-0.0, 5e-324 and the largest double included: orjson
writes the shortest text that reads back as the same double) and string comes back equal and of its type,
and a string's NUL, which a TEXT column cannot hold, is escaped. The sensor's kind already says the type,
but typed columns would need one per kind, or NUL-free strings.

Several hub processes may use one database, one writing at a time (a standby takes over from a hub that
stopped or died). Every writing transaction holds an advisory lock, so that the late batch of a writer
being replaced cannot interleave with the new writer's: rollup rows are read, combined and stored again
without being lost, and sensor numbers, which the database hands out (an identity column), are committed
in increasing order. A process that reads learns the sensors another one numbered when the table's
highest number passes its own (one index lookup per read). `seq` stays unique because the marks row only
moves forward: every write raises `reserved_seq` with GREATEST, so a process that opens continues above
everything any other reserved. The one exception is a clean close, which hands back the unused part of
its own reservation (so that a clean restart leaves no gap), and only while no other process has reserved
since: otherwise it leaves the mark alone.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from hub.history import planner, postgres_schema, rows, sql
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
from hub.history.postgres_schema import WRITE_LOCK, quoted
from hub.history.rollup import Point, Summary, combine, tiered, unit
from hub.history.sensors import Sensors
from hub.history.tiers import Tier, bounds_tier
from hub.history.tiers import default as default_tiers
from hub.templates import Value

CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0
"""A statement still running after this fails (the log retries writes; a query answers 503)."""
NUMERIC_KINDS = ("int", "float")
TRIM_STEPS = 20
"""The size bound deletes the oldest 1/20 of a part's time span at a time, measuring after each step."""
EVERYTHING = 2**62
_TOTAL = rows.COLUMNS.index("total")
Added = list[tuple[int, str, Kind]]


class PostgresHistory:
    """`url` is a libpq-style URL (postgresql://user:password@host:port/database). `tiers`: the rollups it
    keeps (by default those of `tiers.DEFAULT`). `schema`, if given, is created when missing and holds the
    tables (the tests give each test one of its own)."""

    name = "postgres"

    def __init__(
        self, url: str, tiers: Sequence[Tier] | None = None, schema: str | None = None, pool_size: int = 4
    ) -> None:
        self.url = url
        self.tier_list = default_tiers() if tiers is None else tuple(tiers)
        self.schema = schema
        self.pool_size = pool_size
        self._bounds = bounds_tier(self.tier_list)
        self._pool: Any = None
        self._reserved = 0  # what this process last wrote as reserved_seq
        self._lock_key = 0
        self.sensors = Sensors()
        self._horizons: dict[str, int] = {}

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
            await postgres_schema.prepare(connection, self.schema, self.tier_list)
        finally:
            await connection.close()

    async def open(self) -> Stored:
        settings = {} if self.schema is None else {"search_path": quoted(self.schema)}
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            server_settings=settings,
            init=self._connected,
        )
        async with self._pool.acquire() as connection:
            await postgres_schema.prepare(connection, self.schema, self.tier_list)
            self._lock_key = await postgres_schema.lock_key(connection)
            await self._refresh(connection, everything=True)
            await postgres_schema.migrate(connection, self._lock_key, self._move)
        stored = await self.stored()
        self._reserved = stored.marks.reserved_seq
        return stored

    async def _connected(self, connection: Any) -> None:
        """Each new connection of the pool, before its first use (the tests trace statements here)."""

    async def stored(self) -> Stored:
        async with self._reading() as connection:
            marks = await connection.fetchrow("SELECT reserved_seq, unrecoverable_seq FROM marks")
            highest = await _highest(connection)
            count = sum([await postgres_schema.count(connection, t) for t in ("messages", "points")])
            await self._refresh(connection)
            self._horizons = await _horizons(connection)
        return Stored(Marks(marks["reserved_seq"], marks["unrecoverable_seq"]), highest, count)

    # --- writing -------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self, connection: Any) -> AsyncIterator[Added]:
        """A transaction on `connection` that holds the write lock, with the horizons read again under it;
        gives the list where sensors numbered in it are noted, forgotten if it fails."""
        added: Added = []
        try:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", WRITE_LOCK, self._lock_key)
                self._horizons = await _horizons(connection)
                yield added
        except BaseException:
            self.sensors.forget(added)
            raise

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        async with self._pool.acquire() as connection, self._writing(connection) as added:
            await self._store(connection, records, marks, added)
        self._reserved = max(self._reserved, marks.reserved_seq)

    async def _move(self, connection: Any, records: list[Record]) -> None:
        """Migration: records of `messages` written again as a batch (compactly where they can be)."""
        async with self._writing(connection) as added:
            await connection.execute(
                "DELETE FROM messages WHERE seq = ANY($1::bigint[])", [r.seq for r in records]
            )
            await self._store(connection, records, None, added)

    async def _store(
        self, connection: Any, records: Sequence[Record], marks: Marks | None, added: Added
    ) -> None:
        """Write `records` and `marks` in the caller's writing transaction."""
        texts: list[tuple[int, str, str | None, int, str]] = []
        compacted: list[tuple[Record, str, Kind, Value]] = []
        for record in records:
            stored = compact(record) if record.type == "data" else None
            if stored is not None and record.id is not None:
                compacted.append((record, record.id, *stored))
            else:
                texts.append((record.seq, record.type, record.id, record.time_us, record.payload))
        pairs = {(telemetry_id, kind) for _, telemetry_id, kind, _ in compacted}
        missing = [pair for pair in pairs if self.sensors.find(*pair) is None]
        if missing:
            added += await self._register(connection, missing)
        numbers = {pair: self._sensor(*pair) for pair in pairs}
        points: list[tuple[int, int, int, str]] = []
        by_sensor: dict[int, list[Point]] = {}
        for record, telemetry_id, kind, value in compacted:
            sensor = numbers[(telemetry_id, kind)]
            points.append((record.seq, sensor, record.time_us, _dump(value)))
            by_sensor.setdefault(sensor, []).append(Point(record.seq, record.time_us, value))
        if points:
            await connection.copy_records_to_table(
                "points", records=points, columns=["seq", "sensor", "time_us", "value"]
            )
        if texts:
            await connection.copy_records_to_table(
                "messages", records=texts, columns=["seq", "type", "id", "time_us", "payload"]
            )
        await self._roll_up(connection, by_sensor)
        if marks is not None:
            await connection.execute(
                "UPDATE marks SET reserved_seq = GREATEST(reserved_seq, $1), "
                "unrecoverable_seq = GREATEST(unrecoverable_seq, $2)",
                marks.reserved_seq,
                marks.unrecoverable_seq,
            )

    async def _register(self, connection: Any, pairs: Iterable[tuple[str, Kind]]) -> Added:
        """Number the sensors of `pairs` that the database does not have yet, and learn every sensor
        (another process may have numbered some); return those this process did not know."""
        ordered = sorted(pairs)
        await connection.execute(
            "INSERT INTO sensors (id, kind) SELECT * FROM unnest($1::text[], $2::text[]) "
            "ON CONFLICT (id, kind) DO NOTHING",
            [telemetry_id for telemetry_id, _ in ordered],
            [kind for _, kind in ordered],
        )
        known = set(self.sensors.every())
        found = await connection.fetch("SELECT sensor, id, kind FROM sensors")
        self._learn(found)
        return [(row[0], row[1], row[2]) for row in found if row[0] not in known]

    def _sensor(self, telemetry_id: str, kind: Kind) -> int:
        sensor = self.sensors.find(telemetry_id, kind)
        if sensor is None:
            raise RuntimeError(f"history: no sensor for {telemetry_id!r} ({kind}) after numbering it")
        return sensor

    async def _roll_up(
        self, connection: Any, points_of: Mapping[int, Sequence[Point]], tiers: Sequence[Tier] = ()
    ) -> None:
        """Add the points (by sensor, increasing seq) to the rollups of `tiers` (by default every tier), in
        the buckets their horizon has not passed: each row combined with the stored one of its bucket."""
        tiers = tuple(tiers) or self.tier_list
        fresh: dict[str, dict[tuple[int, int], Summary]] = {tier.name: {} for tier in tiers}
        for sensor, points in points_of.items():
            telemetry_id, _ = self.sensors.of(sensor)
            levels = tiered(telemetry_id, points, [tier.width_us for tier in tiers])
            for tier, level in zip(tiers, levels, strict=True):
                since = self._horizons.get(tier.name, 0)
                found = fresh[tier.name]
                for start, summary in level.items():
                    if start >= since:
                        found[(sensor, start // tier.width_us)] = summary
        for tier in tiers:
            found = fresh[tier.name]
            if not found:
                continue
            keys = list(found)
            stored = await connection.fetch(
                postgres_schema.select_rollups(tier), [s for s, _ in keys], [b for _, b in keys]
            )
            for row in stored:
                key = (row[0], row[1])
                found[key] = combine(self._decode(row, tier), found[key])
            encoded = [_encode(sensor, tier.width_us, summary) for (sensor, _), summary in found.items()]
            await connection.execute(
                postgres_schema.upsert_rollups(tier), *(list(column) for column in zip(*encoded, strict=True))
            )

    # --- plain queries -------------------------------------------------------------------------------------

    async def query(self, query: Query) -> list[Record]:
        async with self._reading() as connection:
            parts = [await self._texts(connection, query)]
            if query.types is None or "data" in query.types:
                parts += await self._point_records(connection, query)
        merged = heapq.merge(*parts, key=lambda r: r.seq, reverse=query.order == "desc")
        return list(itertools.islice(merged, query.limit))

    async def _texts(self, connection: Any, query: Query) -> list[Record]:
        statement, args = sql.select(query, sql.POSTGRES)
        return [Record(*row) for row in await connection.fetch(statement, *args)]

    async def _point_records(self, connection: Any, query: Query) -> list[list[Record]]:
        """Per sensor (or for all, without ids) the data records `query` selects, each list in its order."""
        await self._refresh(connection)
        sensors: list[int | None] = [None]
        if query.ids is not None:
            sensors = list(self.sensors.numbers(query.ids))
            if not sensors:
                return []
        lower, upper = query.after_seq or 0, query.before_seq
        if query.start_us is not None or query.end_us is not None:
            bounds = await self._seq_bounds(connection, sensors, query.start_us, query.end_us)
            if bounds is None:
                return []
            lower, upper = max(lower, bounds[0] - 1), _least(upper, bounds[1] + 1)
        found = []
        for sensor in sensors:
            statement, args = sql.select_points(sensor, lower, upper, query, sql.POSTGRES)
            found.append(await self._records(connection, await connection.fetch(statement, *args)))
        return found

    async def _seq_bounds(
        self, connection: Any, sensors: Sequence[int | None], start_us: int | None, end_us: int | None
    ) -> tuple[int, int] | None:
        """The lowest and highest seq of the points of `sensors` ([None]: every sensor) in [start, end), or
        a range that holds them all: (1, EVERYTHING) when the 1 min tier does not reach back that far; None
        when there are none."""
        tier = self._bounds
        horizon = await connection.fetchval("SELECT since_us FROM horizons WHERE source = $1", tier.name)
        if start_us is None or start_us < (horizon or 0):
            return 1, EVERYTHING
        numbers = self.sensors.every() if list(sensors) == [None] else [s for s in sensors if s is not None]
        first = start_us // tier.width_us
        last = None if end_us is None else (end_us - 1) // tier.width_us
        statement, args = sql.seq_bounds(tier.table, numbers, first, last, sql.POSTGRES)
        low, high = await connection.fetchrow(statement, *args)
        return None if low is None else (low, high)

    async def _records(self, connection: Any, found: Sequence[Any]) -> list[Record]:
        """Records of (seq, sensor, time_us, value) rows; a sensor not known here is learnt first."""
        try:
            return [self._record(*row) for row in found]
        except KeyError:
            await self._refresh(connection, everything=True)
            return [self._record(*row) for row in found]

    def _record(self, seq: int, sensor: int, time_us: int, text: str) -> Record:
        telemetry_id, _ = self.sensors.of(sensor)
        value = _load(text)
        return Record(seq, "data", telemetry_id, time_us, payload(telemetry_id, seq, time_us, value), value)

    async def latest(self, ids: Sequence[str]) -> list[Record]:
        async with self._reading() as connection:
            await self._refresh(connection)
            points = await connection.fetch(
                "SELECT p.seq, p.sensor, p.time_us, p.value FROM unnest($1::integer[]) AS s (sensor) "
                "CROSS JOIN LATERAL (SELECT seq, sensor, time_us, value FROM points "
                "WHERE points.sensor = s.sensor ORDER BY seq DESC LIMIT 1) AS p",
                list(self.sensors.numbers(ids)),
            )
            texts = await connection.fetch(
                "SELECT m.seq, m.type, m.id, m.time_us, m.payload FROM unnest($1::text[]) AS wanted (id) "
                "CROSS JOIN LATERAL (SELECT * FROM messages WHERE messages.id = wanted.id AND type = 'data' "
                "ORDER BY seq DESC LIMIT 1) AS m",
                list(ids),
            )
            candidates = [*await self._records(connection, points), *(Record(*row) for row in texts)]
        newest: dict[str | None, Record] = {}
        for record in candidates:
            if record.id not in newest or record.seq > newest[record.id].seq:
                newest[record.id] = record
        return [newest[telemetry_id] for telemetry_id in ids if telemetry_id in newest]

    # --- charts --------------------------------------------------------------------------------------------

    async def read(self, request: ChartRequest) -> Reading:
        async with self._reading() as connection:
            horizons = await _horizons(connection)
            await self._refresh(connection)
            sensors = list(self.sensors.numbers(request.ids))
            parts: list[Summary] = []
            for span in planner.spans(request, self.tier_list, horizons) if sensors else []:
                if span.tier is None:
                    parts += await self._units(connection, sensors, span.start_us, span.end_us)
                else:
                    parts += await self._rollups(connection, span.tier, sensors, span.start_us, span.end_us)
            texts = Query(request.ids, ("data",), request.start_us, request.end_us, limit=EVERYTHING)
            for record in await self._texts(connection, texts):
                value = value_of(record)
                if value is not None and record.id is not None and in_chart(record, request):
                    parts.append(unit(record.id, Point(record.seq, record.time_us, value)))
            highest = await _highest(connection)
        return Reading(parts, highest)

    async def _rollups(
        self, connection: Any, tier: Tier, sensors: Sequence[int], start_us: int, end_us: int
    ) -> list[Summary]:
        width = tier.width_us
        found = await connection.fetch(
            postgres_schema.rollup_range(tier), list(sensors), start_us // width, -(-end_us // width)
        )
        return [self._decode(row, tier) for row in found]

    async def _units(
        self, connection: Any, sensors: Sequence[int], start_us: int, end_us: int
    ) -> list[Summary]:
        """The raw points of `sensors` in [start, end), each a summary of its own."""
        bounds = await self._seq_bounds(connection, sensors, start_us, end_us)
        if bounds is None:
            return []
        found = await connection.fetch(
            "SELECT seq, sensor, time_us, value FROM points WHERE sensor = ANY($1::integer[]) "
            "AND seq >= $2 AND seq <= $3 AND time_us >= $4 AND time_us < $5",
            list(sensors),
            *bounds,
            start_us,
            end_us,
        )
        units = []
        for seq, sensor, time_us, text in found:
            units.append(unit(self.sensors.of(sensor)[0], Point(seq, time_us, _load(text))))
        return units

    def _decode(self, row: Any, tier: Tier) -> Summary:
        telemetry_id, kind = self.sensors.of(row[0])
        return rows.decode(row, telemetry_id, tier.width_us, kind in NUMERIC_KINDS, _load)

    # --- deleting ------------------------------------------------------------------------------------------

    async def delete(self, before_us: int | None) -> tuple[int, int]:
        async with self._pool.acquire() as connection, self._writing(connection):
            await self._refresh(connection)
            if before_us is None:
                result = await self._delete_raw(connection, None)
                for tier in self.tier_list:
                    await connection.execute(f"DELETE FROM {tier.table}")
                await connection.execute("DELETE FROM horizons")
                self._horizons = {}
                return result[:2]
            exact = self._horizons.get(planner.RAW, 0) <= before_us
            straddled = [tier for tier in self.tier_list if before_us % tier.width_us] if exact else []
            # what is left of each bucket that straddles before_us, read before the raw records go
            rests = {tier.name: await self._rest(connection, tier, before_us) for tier in straddled}
            result = await self._delete_raw(connection, before_us)
            for tier in self.tier_list:
                first_kept = before_us // tier.width_us
                if tier in straddled:
                    await self._delete_buckets(connection, tier, first_kept + 1)
                    await self._roll_up(connection, rests[tier.name], (tier,))
                else:
                    await self._delete_buckets(connection, tier, first_kept)
                await self._move_horizon(
                    connection, tier.name, before_us if exact else first_kept * tier.width_us
                )
        return result[:2]

    async def _rest(self, connection: Any, tier: Tier, before_us: int) -> dict[int, list[Point]]:
        """The points of the bucket of `tier` that straddles `before_us`, from `before_us` on, by sensor."""
        end = before_us - before_us % tier.width_us + tier.width_us
        sensors = self.sensors.every()
        rest: dict[int, list[Point]] = {}
        if not sensors:
            return rest
        bounds = await self._seq_bounds(connection, sensors, before_us, end)
        if bounds is None:
            return rest
        found = await connection.fetch(
            "SELECT seq, sensor, time_us, value FROM points WHERE sensor = ANY($1::integer[]) "
            "AND seq >= $2 AND seq <= $3 AND time_us >= $4 AND time_us < $5 ORDER BY sensor, seq",
            sensors,
            *bounds,
            before_us,
            end,
        )
        for seq, sensor, time_us, text in found:
            rest.setdefault(sensor, []).append(Point(seq, time_us, _load(text)))
        return rest

    async def _delete_buckets(self, connection: Any, tier: Tier, first_kept: int) -> int:
        """Delete the rows of `tier` in buckets before `first_kept` (sensor by sensor, through the primary
        key); return how many."""
        status = await connection.execute(
            f"DELETE FROM {tier.table} WHERE sensor = ANY($1::integer[]) AND bucket < $2",
            self.sensors.every(),
            first_kept,
        )
        return int(status.split()[-1])

    async def expire(self, cutoffs: Cutoffs) -> tuple[int, int]:
        async with self._pool.acquire() as connection, self._writing(connection):
            await self._refresh(connection)
            for tier in self.tier_list:
                cutoff = cutoffs.tiers.get(tier.name)
                if cutoff is not None:
                    await self._expire_tier(connection, tier, cutoff)
            if cutoffs.raw_us is None:
                return 0, 0
            return (await self._delete_raw(connection, cutoffs.raw_us))[:2]

    async def _expire_tier(self, connection: Any, tier: Tier, cutoff_us: int) -> int:
        first_kept = cutoff_us // tier.width_us
        deleted = await self._delete_buckets(connection, tier, first_kept)
        await self._move_horizon(connection, tier.name, first_kept * tier.width_us)
        return deleted

    async def _delete_raw(self, connection: Any, before_us: int | None) -> tuple[int, int, dict[str, int]]:
        """Delete the raw records older than `before_us` (all when None), in the caller's transaction;
        return how many, the highest seq deleted, and how many of each table."""
        where: dict[str, tuple[str, list[int]]]
        if before_us is None:
            where = {"points": ("", []), "messages": ("", [])}
        else:
            horizon = self._horizons.get(planner.RAW, 0)
            bounds = await self._seq_bounds(connection, [None], horizon, before_us) or (0, 0)
            where = {
                "points": ("WHERE seq <= $1 AND time_us < $2", [bounds[1], before_us]),
                "messages": ("WHERE time_us < $1", [before_us]),
            }
        counts: dict[str, int] = {}
        highest = 0
        for table, (condition, args) in where.items():
            count, top = await connection.fetchrow(
                f"WITH gone AS (DELETE FROM {table} {condition} RETURNING seq) "
                "SELECT count(*), coalesce(max(seq), 0) FROM gone",
                *args,
            )
            counts[table], highest = count, max(highest, top)
        if before_us is not None:
            await self._move_horizon(connection, planner.RAW, before_us)
        await connection.execute(
            "UPDATE marks SET unrecoverable_seq = GREATEST(unrecoverable_seq, $1)", highest
        )
        return sum(counts.values()), highest, counts

    async def _move_horizon(self, connection: Any, source: str, since_us: int) -> None:
        self._horizons[source] = await connection.fetchval(
            "INSERT INTO horizons (source, since_us) VALUES ($1, $2) ON CONFLICT (source) "
            "DO UPDATE SET since_us = GREATEST(horizons.since_us, EXCLUDED.since_us) RETURNING since_us",
            source,
            since_us,
        )

    async def trim(self, max_bytes: int) -> tuple[int, int]:
        """The size bound. On PostgreSQL the bytes in use are an estimate of what the live rows take
        (`postgres_schema.usage`: per table, its rows times an average row with its index entries), not the
        size of the files: PostgreSQL does not shrink a table after a DELETE, it reuses the space once
        (auto)vacuum has passed. So the bound keeps the live rows within `max_bytes`, and the files on disk
        grow to about that size (plus what deleted rows hold until vacuum) and stay there.

        Delete the oldest 1/20 of the raw records' span at a time while the estimate is above `max_bytes`;
        then the same with each tier, finest first; each step in a transaction of its own."""
        deleted, highest = 0, 0
        async with self._pool.acquire() as connection:
            usage = await postgres_schema.usage(connection, self.tier_list)
            for part in (None, *self.tier_list):
                while usage.bytes > max_bytes:
                    async with self._writing(connection):
                        await self._refresh(connection)
                        span = await self._span(connection, part)
                        if span is None:
                            break
                        oldest, newest = span
                        cut = oldest + max((newest - oldest) // TRIM_STEPS, 1)
                        if part is None:
                            count, top, counts = await self._delete_raw(connection, cut)
                            deleted, highest = deleted + count, max(highest, top)
                            for table, gone in counts.items():
                                usage.drop(table, gone)
                        else:
                            gone = await self._expire_tier(connection, part, max(cut, oldest + part.width_us))
                            usage.drop(part.table, gone)
        return deleted, highest

    async def _span(self, connection: Any, part: Tier | None) -> tuple[int, int] | None:
        if part is None:
            low, high = await connection.fetchrow("SELECT min(time_us), max(time_us) FROM messages")
            first = await connection.fetchval("SELECT time_us FROM points ORDER BY seq LIMIT 1")
            last = await connection.fetchval("SELECT time_us FROM points ORDER BY seq DESC LIMIT 1")
            times = [t for t in (low, high, first, last) if t is not None]
            return (min(times), max(times)) if times else None
        low, high = await connection.fetchrow(postgres_schema.rollup_span(part), self.sensors.every())
        return None if low is None else (low * part.width_us, (high + 1) * part.width_us)

    async def tiers(self) -> list[TierStats]:
        """Rows (counted, or the planner's estimate for a table past a million rows), bytes on disk
        (pg_total_relation_size of each part's tables with their indexes) and span of each part."""
        async with self._reading() as connection:
            await self._refresh(connection)
            sizes = await postgres_schema.on_disk(connection, self.tier_list)
            raw_rows = sum([await postgres_schema.count(connection, t) for t in ("points", "messages")])
            raw_span = await self._span(connection, None)
            stats = [TierStats(planner.RAW, raw_rows, sizes.get(planner.RAW), *(raw_span or (None, None)))]
            for tier in self.tier_list:
                count = await postgres_schema.count(connection, tier.table)
                span = await self._span(connection, tier)
                stats.append(TierStats(tier.name, count, sizes.get(tier.name), *(span or (None, None))))
        return stats

    # --- connections ---------------------------------------------------------------------------------------

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

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Any]:
        """A connection in a read-only repeatable-read transaction: every statement sees one snapshot."""
        if self._pool is None:
            raise RuntimeError("the PostgreSQL history is not open")
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield connection

    async def _refresh(self, connection: Any, everything: bool = False) -> None:
        """Learn the sensors other processes numbered: their numbers are committed in increasing order (under
        the write lock), so the table holds one this process does not know exactly when its highest number
        is above the highest known here. `everything`: read the table whatever the numbers say."""
        if not everything:
            highest = await connection.fetchval("SELECT max(sensor) FROM sensors")
            if highest is None or highest <= max(self.sensors.every(), default=0):
                return
        self._learn(await connection.fetch("SELECT sensor, id, kind FROM sensors"))

    def _learn(self, found: Iterable[Any]) -> None:
        """Add stored (sensor, id, kind) rows to those known (a number always means the same sensor)."""
        known = [(sensor, *self.sensors.of(sensor)) for sensor in self.sensors.every()]
        self.sensors.load([*known, *found])


def _dump(value: Value) -> str:
    return orjson.dumps(value).decode()


def _load(text: str) -> Value:
    value: Value = orjson.loads(text)
    return value


def _encode(sensor: int, width_us: int, summary: Summary) -> tuple[Any, ...]:
    """A rollup row as PostgreSQL takes it: values as JSON text, the exact sum's integer as NUMERIC."""
    row = list(rows.encode(sensor, width_us, summary, _dump))
    if row[_TOTAL] is not None:
        row[_TOTAL] = Decimal(row[_TOTAL])
    return tuple(row)


def _least(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


async def _highest(connection: Any) -> int:
    highest = await connection.fetchval(
        "SELECT greatest((SELECT max(seq) FROM points), (SELECT max(seq) FROM messages))"
    )
    return int(highest or 0)


async def _horizons(connection: Any) -> dict[str, int]:
    return {
        source: since for source, since in await connection.fetch("SELECT source, since_us FROM horizons")
    }
