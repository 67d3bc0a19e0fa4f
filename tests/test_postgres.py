"""What only the PostgreSQL backend has: selection by URL, start-up errors, hubs sharing one database
without ever handing out a seq twice or numbering a sensor twice, the plan of every query shape, exact
values, the size bound, and the migration of a previous version's log. (Everything the backends share runs
on it in test_history.py, test_planner.py, test_retention.py and test_api.py.)"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import codec
from hub.errors import ConfigurationError
from hub.history import HistoryLog, Query, Record, open_backend, postgres_schema
from hub.history.base import ChartRequest, Marks
from hub.history.planner import assemble
from hub.history.postgres import PostgresHistory
from hub.history.tiers import parse
from hub.messages import format_timestamp, to_micros
from tests.backends import POSTGRES_URL, Store
from tests.test_compact_log import VALUES
from tests.test_planner import T0, record, reference
from tests.test_query_plans import SHAPES

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh PostgreSQL store, dropped afterwards (the test skips where no server answers)."""
    store = await Store.create("postgres", tmp_path)
    try:
        yield store
    finally:
        await store.dispose()


async def fill(log: HistoryLog, count: int) -> list[int]:
    """Append `count` data records and flush them; return their seqs."""
    seqs = [log.next_seq() for _ in range(count)]
    for seq in seqs:
        log.append(Record(seq, "data", "a", seq, f'{{"value":{seq}}}'))
    await log.flush()
    return seqs


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_a_postgresql_url_selects_the_backend_and_creates_its_tables(
    postgres: Store, scheme: str
) -> None:
    """Both schemes open PostgresHistory; the tables and indexes exist (here in a schema named by the
    URL's search_path, which asyncpg passes to the server)."""
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE SCHEMA "{postgres.schema}"')
        url = POSTGRES_URL.replace("postgresql", scheme, 1) + f"?search_path={postgres.schema}"
        assert isinstance(open_backend(url), PostgresHistory)
        indexes = await connection.fetch(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1", postgres.schema
        )
    finally:
        await connection.close()
    assert any("(id, time_us)" in row["indexdef"] for row in indexes)
    assert any("(seq)" in row["indexdef"] and "UNIQUE" in row["indexdef"] for row in indexes)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:port/test",
        "postgresql://postgres@127.0.0.1:5432",
        "postgres://postgres@127.0.0.1:5432/",
        "postgresql://postgres@127.0.0.1:5432/test/more",
    ],
)
def test_a_malformed_url_is_refused_naming_the_setting(url: str) -> None:
    """A URL without a database or with a bad port stops start-up saying what the URL should look like."""
    with pytest.raises(
        ConfigurationError, match=r"HUB_HISTORY_URL=.*use postgresql://user@host:port/database"
    ):
        open_backend(url)


def test_an_unreachable_server_stops_start_up_with_a_message_not_a_traceback() -> None:
    """Nothing listening at the URL: the hub exits with status 2 naming the setting and the server, and
    never shows the password."""
    result = subprocess.run(
        [sys.executable, "main.py", "--history-url", "postgresql://hub:secret@127.0.0.1:1/telemetry"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "hub: cannot start" in result.stderr and "Traceback" not in result.stderr
    assert "HUB_HISTORY_URL='postgresql://hub:***@127.0.0.1:1/telemetry'" in result.stderr
    assert "cannot use the PostgreSQL database 127.0.0.1:1/telemetry" in result.stderr
    assert "secret" not in result.stderr


async def test_a_hub_taking_over_continues_above_every_reservation(postgres: Store) -> None:
    """A second hub on the same database starts above what the first reserved; the first one's later
    writes and clean close never move the marks back; a third hub continues above both."""
    first = HistoryLog(postgres(), reserve_ahead=1000)
    await first.open()
    assert await fill(first, 5) == [1, 2, 3, 4, 5]
    second = HistoryLog(postgres(), reserve_ahead=1000)
    await second.open()  # the first is still running: say it hangs, and a standby takes over
    assert second.next_seq() == 1006  # past the first one's reservation (1005)
    assert await fill(first, 1) == [6]  # a late batch of the first, with its older reservation
    await first.close()  # cleanly: it may not hand back numbers the second has reserved since
    third = HistoryLog(postgres(), reserve_ahead=1000)
    await third.open()
    assert third.next_seq() == 2006  # above everything the second reserved (2005)
    await third.close()
    await second.close()


async def connect(store: Store) -> Any:
    """A connection to the store's schema."""
    return await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": f'"{store.schema}"'})


# --- values ------------------------------------------------------------------------------------------------

S = 1_000_000
H = 3600 * S


async def test_every_value_reads_back_as_the_text_that_was_streamed(postgres: Store) -> None:
    """Each datatype, extreme floats, unicode and NUL: the page after a restart is byte for byte what was
    streamed, and its value has its type (True is not 1, 1.0 is not 1, -0.0 is not 0.0)."""
    log = HistoryLog(postgres())
    await log.open()
    written = [record(log.next_seq(), f"id{i % 3}", T0 + i * S, value) for i, value in enumerate(VALUES)]
    for r in written:
        log.append(r)
    await log.close()
    reopened = HistoryLog(postgres())
    await reopened.open()
    read = await reopened.query(Query(limit=100))
    assert [r.payload for r in read] == [r.payload for r in written]
    values = [codec.loads(r.payload)["value"] for r in read]
    assert [(type(v), repr(v)) for v in values] == [(type(v), repr(v)) for v in VALUES]
    latest = {r.id: r.payload for r in await reopened.latest(["id0", "id1", "id2"])}
    assert latest == {r.id: r.payload for r in written[-3:]}
    request = ChartRequest(("id0", "id1", "id2"), T0, H, T0, T0 + H)
    assert await reopened.chart(request) == reference(written, request)
    await reopened.close()
    connection = await connect(postgres)
    try:
        assert (
            await connection.fetchval("SELECT count(*) FROM messages") == 1
        )  # only the integer beyond 64 bits
    finally:
        await connection.close()


# --- hubs sharing the log ----------------------------------------------------------------------------------


async def test_sensors_numbered_by_several_processes_stay_apart(postgres: Store) -> None:
    """Two processes writing new ids at once (a writer being replaced and its successor) get distinct
    sensor numbers, their rollups of one bucket add up, and a third process that started before them reads
    every id, including a known id with a new kind of value."""
    reader = postgres()
    await reader.open()
    first, second = postgres(), postgres()
    await first.open()
    await second.open()
    early = [record(1, "x", T0, 1.5)]
    await first.write(early, Marks(1000))
    assert [r.payload for r in await reader.query(Query(ids=("x",)))] == [early[0].payload]
    batches = [
        [record(2, "y", T0 + 1, 7), record(3, "x", T0 + 2, 2), record(4, "shared", T0 + 3, 1.0)],
        [record(5, "z", T0 + 4, "s"), record(6, "x", T0 + 5, True), record(7, "shared", T0 + 6, -4.0)],
    ]
    await asyncio.gather(first.write(batches[0], Marks(2000)), second.write(batches[1], Marks(2000)))
    everything = early + batches[0] + batches[1]
    ids = ("x", "y", "z", "shared")
    assert [r.payload for r in await reader.query(Query(ids=ids))] == [r.payload for r in everything]
    assert [r.payload for r in await reader.query(Query(after_seq=0))] == [r.payload for r in everything]
    request = ChartRequest(ids, T0, 60 * S, T0, T0 + 60 * S)
    reading = await reader.read(request)
    assert assemble(request, reading.summaries) == reference(everything, request)
    connection = await connect(postgres)
    try:
        numbers = await connection.fetch("SELECT sensor, id, kind FROM sensors ORDER BY sensor")
        one_second = await connection.fetchval(
            "SELECT count FROM rollup_1s WHERE sensor = (SELECT sensor FROM sensors WHERE id = 'shared')"
        )
    finally:
        await connection.close()
    assert (
        len({row["sensor"] for row in numbers}) == len(numbers) == 6
    )  # x thrice (float, int, bool), y, z, shared
    assert one_second == 2
    for backend in (reader, first, second):
        await backend.close(None)


# --- query plans -------------------------------------------------------------------------------------------


class TracedPostgres(PostgresHistory):
    """The PostgreSQL backend, recording every statement its connections run with the values bound."""

    statements: list[tuple[str, tuple[Any, ...]]]

    async def _connected(self, connection: Any) -> None:
        """Record what this connection runs."""
        connection.add_query_logger(lambda query: self.statements.append((query.query, query.args)))


INDEXES = {
    r"FROM points WHERE sensor = \$": "points_by_sensor",
    r"FROM points WHERE sensor = ANY": "points_by_sensor",
    r"FROM points WHERE points.sensor": "points_by_sensor",
    r"FROM points WHERE seq": "points_pkey",
    r"FROM (rollup_\w+)": "{0}_pkey",
    r"FROM messages": "messages_",
}
"""The index each statement is meant to read, by a pattern of its text."""


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_query_shape_reads_through_an_index(postgres: Store, shape: str) -> None:
    """No statement of the query scans `points`, `messages` or a rollup table, and each reads the index
    meant for it (with sequential scans disabled, a statement that no index serves still shows one)."""
    backend = TracedPostgres(POSTGRES_URL, schema=postgres.schema)
    backend.statements = []
    log = HistoryLog(backend)
    await log.open()
    for i in range(7200):
        for telemetry_id, value in (("a", i * 0.5), ("b", i), ("c", f"s{i % 7}")):
            if i % (1 if telemetry_id == "a" else 10) == 0:
                log.append(record(log.next_seq(), telemetry_id, T0 + i * S, value))
    log.append(Record(log.next_seq(), "confirmation", None, T0 + 7200 * S, '{"type":"confirmation"}'))
    await log.flush()
    await asyncio.sleep(0.01)  # the loggers run as callbacks
    backend.statements.clear()
    await SHAPES[shape](log)
    await asyncio.sleep(0.01)
    selects = [  # not the pool's reset of a connection it takes back (SELECT pg_advisory_unlock_all(); ...)
        (text, args)
        for text, args in backend.statements
        if text.lstrip().upper().startswith("SELECT") and "pg_advisory" not in text
    ]
    assert selects
    if "time range" in shape:
        assert any("min(first_seq)" in text and "FROM rollup_1m" in text for text, _ in selects)
    explain = await connect(postgres)
    try:
        await explain.execute("SET enable_seqscan = off")
        for text, args in selects:
            plan = "\n".join(row[0] for row in await explain.fetch(f"EXPLAIN {text}", *args))
            assert not re.search(r"Seq Scan on (points|messages|rollup_\w+)", plan), f"{text}\n{plan}"
            for pattern, index in INDEXES.items():
                if (match := re.search(pattern, text)) is not None:
                    assert index.format(*match.groups()) in plan, f"{text}\n{plan}"
    finally:
        await explain.close()
        await log.close()


# --- the size bound ----------------------------------------------------------------------------------------

TIERS = parse("1s=1h,1m=forever,15m=forever,1h=forever,1d=forever")


async def _usage(store: Store) -> postgres_schema.Usage:
    """The bytes in use as the size bound measures them."""
    connection = await connect(store)
    try:
        return await postgres_schema.usage(connection, TIERS)
    finally:
        await connection.close()


async def _points_on_disk(store: Store) -> int:
    """The bytes `points` takes on disk with its indexes."""
    connection = await connect(store)
    try:
        return int(await connection.fetchval("SELECT pg_total_relation_size('points')"))
    finally:
        await connection.close()


async def test_past_the_size_bound_the_oldest_raw_records_go_then_the_finest_rollups(postgres: Store) -> None:
    """The bytes in use are estimated within 5 % of a fresh table's size on disk; a bound below them deletes
    the oldest raw records until they fit; a bound below what the rollups alone take deletes every raw
    record and then the oldest 1 s rows. The files keep their size (PostgreSQL reuses the space)."""
    backend = PostgresHistory(POSTGRES_URL, TIERS, schema=postgres.schema)
    log = HistoryLog(backend)
    await log.open()
    try:
        now = to_micros(time.time())
        for i in range(6 * 3600):
            log.append(record(log.next_seq(), "a", now - 6 * H + i * S, float(i % 97)))
        await log.flush()
        full = {part.name: part for part in await backend.tiers()}
        assert full["raw"].rows == 6 * 3600 and full["1s"].rows == 6 * 3600
        assert full["raw"].bytes is not None and full["1s"].bytes is not None and full["1m"].bytes is not None
        points = await _usage(postgres)
        on_disk = await _points_on_disk(postgres)
        assert abs(points.rows["points"] * points.row_bytes["points"] - on_disk) < on_disk / 20
        bound = full["raw"].bytes // 2 + full["1s"].bytes + full["1m"].bytes
        assert points.bytes > bound
        await log.trim(bound)
        assert (await _usage(postgres)).bytes <= bound
        half = {part.name: part for part in await backend.tiers()}
        assert 0 < half["raw"].rows < full["raw"].rows and half["1s"].rows == full["1s"].rows
        assert half["raw"].oldest_us is not None and half["raw"].oldest_us > now - 6 * H + H
        assert half["raw"].bytes is not None and half["raw"].bytes >= full["raw"].bytes  # space kept to reuse
        await log.trim(full["1s"].bytes // 2)
        assert (await _usage(postgres)).bytes <= full["1s"].bytes // 2
        small = {part.name: part for part in await backend.tiers()}
        assert small["raw"].rows == 0 and 0 < small["1s"].rows < full["1s"].rows
        assert small["1h"].rows == full["1h"].rows
    finally:
        await log.close()


# --- migration ---------------------------------------------------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE messages (
    seq     BIGINT PRIMARY KEY,
    type    TEXT   NOT NULL,
    id      TEXT   COLLATE "C",
    time_us BIGINT NOT NULL,
    payload TEXT   NOT NULL
);
CREATE INDEX messages_by_id ON messages (id, seq);
CREATE INDEX messages_by_id_time ON messages (id, time_us);
CREATE INDEX messages_by_type ON messages (type, seq);
CREATE INDEX messages_by_time ON messages (time_us);
CREATE TABLE marks (
    one               BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    reserved_seq      BIGINT  NOT NULL,
    unrecoverable_seq BIGINT  NOT NULL
);
"""
"""The tables as the previous version created them."""


async def _old_log(store: Store, count: int) -> list[Record]:
    """A log as the previous version wrote it: every message as text (a few data messages in a text the
    hub does not rebuild), and its marks."""
    records = []
    for seq in range(1, count + 1):
        time_us = T0 + seq * S
        if seq % 50 == 0:
            text = codec.dumps({"type": "notification", "level": "info", "code": "x", "message": "m",
                                "timestamp": format_timestamp(time_us), "seq": seq})  # fmt: skip
            records.append(Record(seq, "notification", None, time_us, text))
        elif seq % 97 == 0:
            records.append(Record(seq, "data", "a", time_us, f'{{"value":{seq}}}'))
        else:
            records.append(record(seq, ("a", "b")[seq % 2], time_us, seq * 0.25 if seq % 2 else seq))
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE SCHEMA "{store.schema}"; SET search_path TO "{store.schema}"')
        await connection.execute(OLD_SCHEMA)
        await connection.copy_records_to_table(
            "messages", records=[(r.seq, r.type, r.id, r.time_us, r.payload) for r in records]
        )
        await connection.execute("INSERT INTO marks (reserved_seq, unrecoverable_seq) VALUES ($1, 0)", count)
    finally:
        await connection.close()
    return [Record(r.seq, r.type, r.id, r.time_us, r.payload, r.value) for r in records]


def _values(records: list[Record]) -> list[Record]:
    """The data records with the values their text holds."""
    return [
        Record(r.seq, r.type, r.id, r.time_us, r.payload, codec.loads(r.payload)["value"])
        for r in records
        if r.type == "data"
    ]


async def test_a_log_of_the_previous_version_is_migrated(
    postgres: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened by this version, a previous version's log answers every query byte for byte as before, its
    charts exactly, it continues its seq, the start-up log says what happened, and it is migrated once."""
    caplog.set_level(logging.INFO, "hub.history")
    monkeypatch.setattr(postgres_schema, "MIGRATION_CHUNK", 6_000)
    records = await _old_log(postgres, 20_001)
    data = sum(r.type == "data" for r in records)
    log = HistoryLog(postgres())
    await log.open()
    assert (
        f"migrating {data} data messages" in caplog.text and f"migrated {data} data messages" in caplog.text
    )
    assert f"migrated 18000 of {data}" in caplog.text  # in chunks
    page = await log.query(Query(limit=10_000, after_seq=5_000))
    assert [r.payload for r in page] == [r.payload for r in records[5_000:15_000]]
    ranged = await log.query(Query(ids=("a",), start_us=T0 + 5_000 * S, end_us=T0 + 5_100 * S, order="desc"))
    assert [r.payload for r in ranged] == [
        r.payload for r in reversed(records) if r.id == "a" and 5_000 <= r.seq < 5_100
    ]
    newest = [max((r for r in records if r.id == i and r.type == "data"), key=lambda r: r.seq) for i in "ab"]
    assert [r.payload for r in await log.latest(["a", "b"])] == [r.payload for r in newest]
    request = ChartRequest(("a", "b"), T0 - T0 % (60 * S), 60 * S, T0 + 17 * S, T0 + 19_000 * S)
    assert await log.chart(request) == reference(_values(records), request)
    assert log.next_seq() == 20_002
    await log.close()
    connection = await connect(postgres)
    try:
        texts = await connection.fetchval("SELECT count(*) FROM messages")
        layout = await connection.fetchval("SELECT layout FROM marks")
    finally:
        await connection.close()
    assert texts == 20_001 // 50 + sum(r.type == "data" and r.value is None for r in records)
    assert layout == postgres_schema.LAYOUT
    caplog.clear()
    again = HistoryLog(postgres())
    await again.open()
    assert "migrating" not in caplog.text and again.count == 20_001
    await again.close()


async def test_two_processes_opening_a_previous_version_s_log_migrate_it_once(
    postgres: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hubs starting at once on a previous version's log: one migrates it, the other waits and then
    reads the migrated log."""
    monkeypatch.setattr(postgres_schema, "MIGRATION_CHUNK", 500)
    records = await _old_log(postgres, 3_001)
    writer, follower = HistoryLog(postgres()), HistoryLog(postgres())
    await asyncio.gather(writer.open(), follower.open(write=False))
    assert caplog.text.count("migrating ") == 1
    for log in (writer, follower):
        assert log.count == 3_001
        assert [r.payload for r in await log.query(Query(limit=5_000))] == [r.payload for r in records]
    await follower.close()
    await writer.close()
