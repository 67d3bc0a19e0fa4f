"""The compact SQLite log: every value reads back as the exact text that was streamed, and a log written by
the previous version is migrated when the hub opens it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub import codec
from hub.history import HistoryLog, Query, Record
from hub.history.base import ChartRequest
from hub.history.sqlite import SqliteHistory
from hub.messages import format_timestamp
from hub.publisher import Publisher
from hub.templates import Value
from tests.test_planner import T0, record, reference

S = 1_000_000
VALUES: list[Value] = [
    True,
    False,
    0,
    1,
    -1,
    2**63 - 1,
    -(2**63),
    2**64,  # beyond 64 bits: kept as text
    0.0,
    -0.0,
    1.0,
    0.1,
    -2.5e-308,
    5e-324,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    123456789.123456789,
    "",
    "plain",
    "ünïcödé ✓ 𝄞 日本語",
    'quotes " and \\ and \n newlines',
    "\u0000\u001f\u007f",
]


async def test_every_value_reads_back_as_the_text_that_was_streamed(tmp_path: Path) -> None:
    """Each datatype, extreme floats, unicode: the page after a restart is byte for byte what was
    streamed, and its value has its type (True is not 1, 1.0 is not 1)."""
    log = HistoryLog(SqliteHistory(tmp_path / "history.db"))
    await log.open()
    written = [record(log.next_seq(), f"id{i % 3}", T0 + i * S, value) for i, value in enumerate(VALUES)]
    for r in written:
        log.append(r)
    await log.close()
    reopened = HistoryLog(SqliteHistory(tmp_path / "history.db"))
    await reopened.open()
    read = await reopened.query(Query(limit=100))
    assert [r.payload for r in read] == [r.payload for r in written]
    assert [codec.loads(r.payload)["value"] for r in read] == VALUES
    assert [type(codec.loads(r.payload)["value"]) for r in read] == [type(v) for v in VALUES]
    latest = {r.id: r.payload for r in await reopened.latest(["id0", "id1", "id2"])}
    assert latest == {r.id: r.payload for r in written[-3:]}
    await reopened.close()
    db = sqlite3.connect(tmp_path / "history.db")
    texts = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    db.close()
    assert texts == 1  # only the integer beyond 64 bits


async def test_what_the_publisher_streams_is_what_the_compact_log_rebuilds(tmp_path: Path) -> None:
    """The publisher's message text equals the rebuilt one for every value (the compact layout depends on
    it: a change of the data message's shape fails here)."""
    log = HistoryLog(SqliteHistory(tmp_path / "history.db"))
    await log.open()
    published: list[Record] = []

    class Catching:
        """A fan-out that keeps what is published."""

        def publish(self, item: Record) -> None:
            """Keep it."""
            published.append(item)

    publisher = Publisher(log, Catching())  # type: ignore[arg-type]
    for i, value in enumerate(VALUES):
        publisher.data(f"id{i % 3}", value, T0 + i * 1_234_567)
    await log.flush()
    read = await log.query(Query(limit=100))
    assert [r.payload for r in read] == [r.payload for r in published]
    await log.close()


OLD_SCHEMA = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT, time_us INTEGER NOT NULL, payload TEXT NOT NULL
);
CREATE INDEX messages_by_id ON messages (id, seq);
CREATE INDEX messages_by_type ON messages (type, seq);
CREATE INDEX messages_by_time ON messages (time_us);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def _old_log(path: Path, count: int) -> list[Record]:
    """A log as the previous version wrote it: every message as text, and its marks."""
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    records = []
    for seq in range(1, count + 1):
        if seq % 50 == 0:
            text = codec.dumps({"type": "notification", "level": "info", "code": "x", "message": "m",
                                "timestamp": format_timestamp(T0 + seq * S), "seq": seq})  # fmt: skip
            records.append(Record(seq, "notification", None, T0 + seq * S, text))
        else:
            telemetry_id = ("a", "b")[seq % 2]
            records.append(record(seq, telemetry_id, T0 + seq * S, seq * 0.25 if seq % 2 else seq))
    db.executemany(
        "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
        [(r.seq, r.type, r.id, r.time_us, r.payload) for r in records],
    )
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("reserved_seq", count), ("unrecoverable_seq", 0)])
    db.commit()
    db.close()
    return records


async def test_a_log_of_the_previous_version_is_migrated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Opened by this version, a previous version's log answers every query byte for byte as before, its
    charts exactly, it continues its seq, and the start-up log says what happened."""
    path = tmp_path / "history.db"
    records = _old_log(path, 120_001)
    log = HistoryLog(SqliteHistory(path))
    await log.open()
    assert "migrating 117601 data messages" in caplog.text and "migrated 117601 data messages" in caplog.text
    page = await log.query(Query(limit=10_000, after_seq=100_000))
    assert [r.payload for r in page] == [r.payload for r in records[100_000:110_000]]
    ranged = await log.query(Query(ids=("a",), start_us=T0 + 5_000 * S, end_us=T0 + 5_100 * S))
    assert [r.payload for r in ranged] == [
        r.payload for r in records if r.id == "a" and 5_000 <= r.seq < 5_100
    ]
    request = ChartRequest(("a", "b"), T0 - T0 % (60 * S), 60 * S, T0 + 17 * S, T0 + 90_000 * S)
    assert await log.chart(request) == reference(
        [Record(r.seq, r.type, r.id, r.time_us, r.payload, codec.loads(r.payload)["value"])
         for r in records if r.type == "data"],
        request,
    )  # fmt: skip
    assert log.next_seq() == 120_002
    await log.close()
    caplog.clear()
    again = HistoryLog(SqliteHistory(path))
    await again.open()  # migrated once
    assert "migrating" not in caplog.text and again.count == 120_001
    await again.close()
