"""Tiered retention: raw records expire while rollups keep answering charts, each tier keeps its own
period, the size bound deletes the oldest raw records first and then the finest rollups, and /health and
/metrics show every part of the log."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from hub.errors import ConfigurationError
from hub.history import HistoryBackend, HistoryLog, Query, Record
from hub.history.base import ChartRequest
from hub.history.retention import Retention, expire
from hub.history.sqlite import SqliteHistory
from hub.history.tiers import parse
from hub.messages import to_micros
from hub.settings import Settings
from tests.backends import Store
from tests.conftest import RunningHub
from tests.support import is_
from tests.test_planner import record, reference

S = 1_000_000
H = 3600 * S
TIERS = parse("1s=1h,1m=forever,15m=forever,1h=forever,1d=forever")


async def _filled(log: HistoryLog, hours: int, end_us: int) -> list[Record]:
    """One point a second of `a` over the `hours` before `end_us`, written."""
    records = []
    for i in range(hours * 3600):
        records.append(record(log.next_seq(), "a", end_us - hours * H + i * S, float(i % 97)))
        log.append(records[-1])
    await log.flush()
    return records


async def test_raw_records_expire_and_charts_of_their_time_are_still_answered(store: Store) -> None:
    """Past HUB_HISTORY_RETENTION_S the raw records are gone (plain queries find nothing, a resume from
    there would be refused) but a chart of that time is still exactly what the raw records gave."""
    log = HistoryLog(store())
    await log.open()
    now = to_micros(time.time())
    records = await _filled(log, 3, now)
    hourly = ChartRequest(("a",), now - 3 * H - (now - 3 * H) % H, H, now - 3 * H, now)
    before = await log.chart(hourly)
    assert before == reference(records, hourly)
    deleted = await log.expire(Retention(raw_s=2 * 3600, tiers=TIERS).cutoffs(now / S))  # at `now`
    assert deleted == 3600 and log.unrecoverable_seq == records[3599].seq
    assert await log.query(Query(ids=("a",), end_us=now - 2 * H)) == []
    assert await log.chart(hourly) == before
    await log.close()


async def test_each_tier_keeps_its_own_period_and_edges_come_from_what_is_kept(store: Store) -> None:
    """The 1 s tier expires after its hour; a chart with ragged edges in that older time takes them from
    the raw records, exactly."""
    log = HistoryLog(store())
    await log.open()
    now = to_micros(time.time())
    records = await _filled(log, 3, now)
    await expire(log, Retention(tiers=TIERS))
    stats = {part.name: part for part in await log.backend.tiers()}
    assert stats["1s"].oldest_us is not None and stats["1s"].oldest_us >= now - H - S
    assert stats["raw"].rows == 3 * 3600
    start = now - 150 * 60 * S + 123_456
    request = ChartRequest(("a",), start - start % (5 * S), 5 * S, start, start + 30 * 60 * S)
    assert await log.chart(request) == reference(records, request)
    await log.close()


async def test_past_the_size_bound_the_oldest_raw_records_go_then_the_finest_rollups(tmp_path: Path) -> None:
    """A bound below the log's size deletes the oldest raw records until it fits; a bound below what the
    rollups alone take deletes every raw record and then the oldest 1 s rows."""
    backend = SqliteHistory(tmp_path / "history.db", TIERS)
    log = HistoryLog(backend)
    await log.open()
    now = to_micros(time.time())
    await _filled(log, 6, now)
    full = {part.name: part for part in await backend.tiers()}
    raw, fine, minute = (full[name].bytes for name in ("raw", "1s", "1m"))
    assert raw is not None and fine is not None and minute is not None
    bound = raw // 2 + fine + minute
    await log.trim(bound)
    half = {part.name: part for part in await backend.tiers()}
    assert 0 < half["raw"].rows < full["raw"].rows and half["1s"].rows == full["1s"].rows
    assert half["raw"].oldest_us is not None and half["raw"].oldest_us > now - 6 * H + H
    await log.trim(fine // 2)
    small = {part.name: part for part in await backend.tiers()}
    assert small["raw"].rows == 0 and 0 < small["1s"].rows < full["1s"].rows
    assert small["1h"].rows == full["1h"].rows
    await log.close()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1s=7d,1m=", "'1m=' is not WIDTH=PERIOD"),
        ("1s=7d,1h=forever", "needs a 1m tier"),
        ("1s=7d,1m=forever,7s=1d", "1m is not a whole number of 7s"),
        ("1s=7d,1m=30d", "must be kept at least as long as raw records"),
    ],
)
def test_a_bad_rollup_setting_stops_start_up_naming_it(value: str, words: str) -> None:
    """HUB_HISTORY_ROLLUP_RETENTION that cannot work is refused with a message naming it."""
    with pytest.raises(ValueError, match="HUB_HISTORY_ROLLUP_RETENTION") as refused:
        Settings(history_rollup_retention=value)
    assert words in str(refused.value)
    with pytest.raises(ConfigurationError):
        parse(value)


@pytest.fixture
def history(tmp_path: Path) -> HistoryBackend:
    """The hubs of this module log to SQLite, whose bytes on disk are measured."""
    return SqliteHistory(tmp_path / "hub.db")


async def test_health_and_metrics_show_each_part_of_the_log(running: RunningHub) -> None:
    """/health lists the raw log and each tier with rows, bytes and span; /metrics has them by part."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage"]})
    now = time.time()
    for offset in range(5):
        running.source.emit("voltage", 28.0 + offset / 10, now - 120 + offset)
    await client.wait_for(is_("data", id="voltage"), count=5)
    await running.hub.history.flush()
    await running.hub.history.measure_tiers()
    async with httpx.AsyncClient(base_url=running.url) as http:
        health = (await http.get("/health")).json()
        metrics = (await http.get("/metrics")).text
    parts = {part["name"]: part for part in health["history"]["tiers"]}
    assert list(parts) == ["raw", "1s", "1m", "15m", "1h", "1d"]
    assert parts["1s"]["rows"] == 5 and parts["1m"]["rows"] in (1, 2) and parts["raw"]["rows"] >= 5
    assert all(part["bytes"] > 0 for part in parts.values()), parts
    assert parts["1s"]["oldest"] is not None and parts["1s"]["oldest"].endswith("Z")
    assert 'hub_history_rows{part="1s"} 5.0' in metrics and 'hub_history_bytes{part="raw"}' in metrics
    assert 'hub_history_oldest_seconds{part="1d"}' in metrics
