"""Bucket summaries and min/max downsampling through the log, on every backend, with hand-computed results:
the same answers whether the records are written, being written, or still pending."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from hub.history import HistoryLog, Record
from hub.history.base import Buckets, Summary
from tests.backends import Store

T0 = 1_800_000_000_000_000
S = 1_000_000
POINTS = [  # (id, seconds after T0, value); buckets of 10 s from T0, [T0, T0 + 50 s) in range
    ("a", -1, 100.0),  # before start
    ("a", 0, 1.0),
    ("b", 5, 7),
    ("a", 1, 4.0),
    ("a", 9.999999, 2.5),
    ("a", 10, -1.0),
    ("b", 15, 2),
    ("b", 16, 9),
    ("a", 25, 8.0),
    ("c", 25, "x"),
    ("a", 26, 8.0),
    ("c", 27, "y"),
    ("a", 45, 3.0),
    ("c", 49, "z"),
    ("a", 50, 99.0),  # at end: excluded
]
RANGE = Buckets(("a", "b"), T0, 10 * S, T0, T0 + 50 * S, numeric=True)


def payload(seq: int, telemetry_id: str, value: object) -> str:
    """The JSON of a data record, as the log stores it."""
    shown = f'"{value}"' if isinstance(value, str) else value
    return f'{{"type":"data","id":"{telemetry_id}","value":{shown},"seq":{seq}}}'


async def logged(store: Store, written: int) -> tuple[HistoryLog, list[Record]]:
    """A log holding POINTS (and a notification of `a`, which no aggregate counts), the first `written` of
    them written to the backend and the rest pending."""
    log = HistoryLog(store())
    await log.open()
    records = []
    for index, (telemetry_id, seconds, value) in enumerate(POINTS):
        if index == written:
            await log.flush()
        seq = log.next_seq()
        record = Record(seq, "data", telemetry_id, T0 + round(seconds * S), payload(seq, telemetry_id, value))
        log.append(record)
        records.append(record)
    log.append(Record(log.next_seq(), "notification", "a", T0 + 2 * S, '{"value":-50.0}'))
    if written >= len(POINTS):
        await log.flush()
    return log, records


def seq_of(records: list[Record], telemetry_id: str, seconds: float) -> int:
    """The seq of the record of `telemetry_id` logged `seconds` after T0."""
    return next(r.seq for r in records if r.id == telemetry_id and r.time_us == T0 + round(seconds * S))


def expected(records: list[Record]) -> list[Summary]:
    """The summaries of RANGE over `records`, per id and bucket, worked out by hand."""

    def summary(
        telemetry_id: str, bucket: int, values: list[float], times: list[float], numeric: bool = True
    ) -> Summary:
        first, last = seq_of(records, telemetry_id, times[0]), seq_of(records, telemetry_id, times[-1])
        payloads = {r.seq: r.payload for r in records}
        low, high, total = (min(values), max(values), float(sum(values))) if numeric else (None, None, None)
        return Summary(
            telemetry_id, bucket, len(values), low, high, total, first, payloads[first], last, payloads[last]
        )

    return [
        summary("a", 0, [1.0, 4.0, 2.5], [0, 1, 9.999999]),
        summary("a", 1, [-1.0], [10]),
        summary("a", 2, [8.0, 8.0], [25, 26]),
        summary("a", 4, [3.0], [45]),
        summary("b", 0, [7], [5]),
        summary("b", 1, [2, 9], [15, 16]),
    ]


@pytest.mark.parametrize("written", [len(POINTS), 7, 0], ids=["written", "half-written", "pending"])
async def test_summaries_per_id_and_bucket(store: Store, written: int) -> None:
    """count, min, max, sum, first and last per id and non-empty bucket, exactly, wherever the records are."""
    log, records = await logged(store, written)
    summaries = await log.summarize(RANGE)
    assert summaries == expected(records)
    assert [type(s.low) for s in summaries] == [float] * 4 + [int] * 2  # as the JSON numbers were
    await log.close()


async def test_summaries_of_any_type_count_first_and_last(store: Store) -> None:
    """Without numbers (strings here) a summary has count, first and last only."""
    log, records = await logged(store, len(POINTS))
    summary, later = await log.summarize(replace(RANGE, ids=("c",), numeric=False))
    x, y, z = (seq_of(records, "c", t) for t in (25, 27, 49))
    assert (summary.bucket, summary.count, summary.low, summary.high, summary.total) == (
        2,
        2,
        None,
        None,
        None,
    )
    assert (summary.first_seq, summary.last_seq, later.bucket, later.count) == (x, y, 4, 1)
    assert '"x"' in summary.first and '"y"' in summary.last and later.first == later.last
    shifted = replace(RANGE, ids=("c",), numeric=False, origin_us=T0 + 5 * S, start_us=T0 + 45 * S)
    [last_bucket] = await log.summarize(shifted)
    assert (last_bucket.bucket, last_bucket.first_seq) == (4, z)  # counted from the origin, not the start
    await log.close()


async def test_summaries_stop_at_the_limit_and_before_seq(store: Store) -> None:
    """`limit` caps the rows (ordered by id, then bucket); `before_seq` leaves out later records."""
    log, records = await logged(store, len(POINTS))
    assert await log.summarize(replace(RANGE, limit=2)) == expected(records)[:2]
    before = seq_of(records, "a", 1)
    [only] = await log.summarize(replace(RANGE, ids=("a",), before_seq=before))
    assert (only.bucket, only.count, only.low, only.high) == (0, 1, 1.0, 1.0)
    await log.close()


@pytest.mark.parametrize("written", [len(POINTS), 7, 0], ids=["written", "half-written", "pending"])
async def test_extremes_are_the_real_points_of_the_lowest_and_highest_values(
    store: Store, written: int
) -> None:
    """Per bucket the min and max points, in seq order; a point that is both (one value, or ties: the
    lowest seq) comes once."""
    log, records = await logged(store, written)
    points = await log.extremes(replace(RANGE, ids=("a", "b")))
    picked = [("a", 0), ("b", 5), ("a", 1), ("a", 10), ("b", 15), ("b", 16), ("a", 25), ("a", 45)]
    assert [r.seq for r in points] == sorted(seq_of(records, i, t) for i, t in picked)
    assert points == sorted(points, key=lambda r: r.seq) and all(r in records for r in points)
    await log.close()


async def test_aggregates_never_count_a_record_twice_while_it_is_being_written(store: Store) -> None:
    """A batch that is written while a summary runs is counted once."""
    log, records = await logged(store, 0)
    flushing = asyncio.create_task(log.flush())
    await asyncio.sleep(0)  # the batch is now being written: neither pending nor (yet) in the backend
    summaries = await log.summarize(RANGE)
    await flushing
    assert summaries == expected(records)
    assert await log.summarize(RANGE) == expected(records)
    await log.close()
