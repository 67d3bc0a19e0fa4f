"""Charts answered from rollups, finer edges and raw points are exactly what summarizing every raw point
gives: by hand on a few points, and as a property over random data, out-of-order times, deletions and
records not yet written, on every backend."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from hub.history import HistoryBackend, HistoryLog, Record
from hub.history.base import ChartRequest
from hub.history.compact import payload
from hub.history.memory import MemoryHistory
from hub.history.postgres import PostgresHistory
from hub.history.rollup import Point, Summary, settled, summarize
from hub.history.sqlite import SqliteHistory
from hub.templates import Value
from tests.backends import POSTGRES_URL, Store, postgres_problem

T0 = 1_800_000_000_000_000
S = 1_000_000
H = 3600 * S
POINTS: list[tuple[str, float, Value]] = [  # (id, seconds after T0, value); 10 s buckets, [T0, T0 + 50 s)
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
RANGE = ChartRequest(("a", "b", "c"), T0, 10 * S, T0, T0 + 50 * S)


def record(seq: int, telemetry_id: str, time_us: int, value: Value) -> Record:
    """A data record exactly as the publisher makes it."""
    return Record(seq, "data", telemetry_id, time_us, payload(telemetry_id, seq, time_us, value), value)


def reference(records: Sequence[Record], request: ChartRequest) -> list[Summary]:
    """The chart summarized from every raw record, point by point: what every answer must equal."""
    groups: dict[tuple[str, int], list[Point]] = {}
    for r in sorted(records, key=lambda r: r.seq):
        if r.type != "data" or r.id not in request.ids or r.value is None or r.time_us < request.start_us:
            continue
        if request.end_us is not None and r.time_us >= request.end_us:
            continue
        start = r.time_us - (r.time_us - request.origin_us) % request.width_us
        groups.setdefault((r.id, start), []).append(Point(r.seq, r.time_us, r.value))
    order = {telemetry_id: index for index, telemetry_id in enumerate(request.ids)}
    keys = sorted(groups, key=lambda key: (order[key[0]], key[1]))
    return [settled(summarize(key[0], key[1], groups[key])) for key in keys]


async def logged(store: Store, written: int) -> tuple[HistoryLog, list[Record]]:
    """A log holding POINTS and a notification of `a` (no chart counts it), the first `written` of them
    written to the backend and the rest pending."""
    log = HistoryLog(store())
    await log.open()
    records = []
    for index, (telemetry_id, seconds, value) in enumerate(POINTS):
        if index == written:
            await log.flush()
        records.append(record(log.next_seq(), telemetry_id, T0 + round(seconds * S), value))
        log.append(records[-1])
    log.append(Record(log.next_seq(), "notification", "a", T0 + 2 * S, '{"value":-50.0}'))
    if written >= len(POINTS):
        await log.flush()
    return log, records


def seq_of(records: list[Record], telemetry_id: str, seconds: float) -> int:
    """The seq of the record of `telemetry_id` logged `seconds` after T0."""
    return next(r.seq for r in records if r.id == telemetry_id and r.time_us == T0 + round(seconds * S))


@pytest.mark.parametrize("written", [len(POINTS), 7, 0], ids=["written", "half-written", "pending"])
async def test_summaries_per_id_and_bucket_by_hand(store: Store, written: int) -> None:
    """count, min, max, exact mean, first and last per id and non-empty bucket, wherever the records are."""
    log, records = await logged(store, written)
    summaries = await log.chart(RANGE)
    shown = [
        (s.id, (s.start_us - T0) // S, s.count, s.low and s.low.value, s.high and s.high.value, s.mean)
        for s in summaries
    ]
    assert shown == [
        ("a", 0, 3, 1.0, 4.0, 2.5),
        ("a", 10, 1, -1.0, -1.0, -1.0),
        ("a", 20, 2, 8.0, 8.0, 8.0),
        ("a", 40, 1, 3.0, 3.0, 3.0),
        ("b", 0, 1, 7, 7, 7.0),
        ("b", 10, 2, 2, 9, 5.5),
        ("c", 20, 2, None, None, None),
        ("c", 40, 1, None, None, None),
    ]
    ties = summaries[2]  # two 8.0: the lowest and the highest are the point of the lower seq
    assert ties.low == ties.high and ties.low is not None and ties.low.seq == seq_of(records, "a", 25)
    strings = summaries[6]
    assert (strings.first.value, strings.last.value) == ("x", "y")
    assert [type(s.low.value) for s in summaries if s.low] == [float] * 4 + [int] * 2
    assert summaries == reference(records, RANGE)
    await log.close()


async def test_a_batch_being_written_is_counted_once(store: Store) -> None:
    """A batch written while a chart is read is counted once."""
    log, records = await logged(store, 0)
    flushing = asyncio.create_task(log.flush())
    await asyncio.sleep(0)  # the batch is now being written: neither pending nor (yet) in the backend
    summaries = await log.chart(RANGE)
    await flushing
    assert summaries == reference(records, RANGE)
    assert await log.chart(RANGE) == reference(records, RANGE)
    await log.close()


async def test_late_points_land_in_their_own_buckets(store: Store) -> None:
    """A point stamped hours before the ones written around it changes only its own buckets, at every
    resolution, and only for its id."""
    log = HistoryLog(store())
    await log.open()
    records = [record(log.next_seq(), "a", T0 + i * S, float(i)) for i in range(120)]
    for r in records:
        log.append(r)
    await log.flush()
    late = record(log.next_seq(), "a", T0 - 2 * H + 500, -7.5)
    other = record(log.next_seq(), "b", T0 - 2 * H + 900, 3)
    log.append(late)
    log.append(other)
    await log.flush()
    everything = [*records, late, other]
    for width in (S, 60 * S, 15 * 60 * S, H, 24 * H):
        request = ChartRequest(("a", "b"), (T0 - 3 * H) - (T0 - 3 * H) % width, width, T0 - 3 * H, T0 + H)
        assert await log.chart(request) == reference(everything, request)
    await log.close()


# --- the property --------------------------------------------------------------------------------------

WIDTHS = (S, 2 * S, 5 * S, 7 * S, 1_500_000, 60 * S, 90 * S, 15 * 60 * S, H, 24 * H)
"""Chart widths: multiples of each default tier, and some of none (answered from raw points)."""
SPAN = 2 * 24 * H

values_of = {
    "f": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63 - 1),
    "i": st.integers(-(2**63), 2**63 - 1),
    "s": st.text(max_size=5),
    "b": st.booleans(),
}
points = st.lists(
    st.tuples(
        st.sampled_from(sorted(values_of)),
        st.integers(0, 47),  # the hour
        st.integers(0, 3600 * S - 1) | st.sampled_from([0, 999_999, 1_000_000, 59_999_999]),
    ).flatmap(lambda t: st.tuples(st.just(t[0]), st.just(t[1] * H + t[2]), values_of[t[0]])),
    max_size=60,
)
charts = st.tuples(st.sampled_from(WIDTHS), st.integers(-H, SPAN), st.integers(1, SPAN + H) | st.none()).map(
    lambda t: ChartRequest(
        ("f", "i", "s", "b"),
        T0 + t[1] - (T0 + t[1]) % t[0],
        t[0],
        T0 + t[1],
        None if t[2] is None else T0 + t[1] + t[2],
    )
)
PROPERTY = hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _backend(kind: str, folder: Path, schema: str) -> HistoryBackend:
    """A fresh backend of `kind`."""
    if kind == "memory":
        return MemoryHistory()
    if kind == "sqlite":
        return SqliteHistory(folder / f"{uuid.uuid4().hex}.db")
    return PostgresHistory(POSTGRES_URL, schema=schema)


async def _drop(schema: str) -> None:
    """Drop a PostgreSQL schema made for one example."""
    connection = await asyncpg.connect(POSTGRES_URL, timeout=10)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


async def _check(
    kind: str,
    folder: Path,
    data: list[tuple[str, int, Value]],
    flushes: set[int],
    deleted_before: int | None,
    requests: list[ChartRequest],
) -> None:
    """Write `data` (flushing after the indexes in `flushes`, the rest left pending), delete before a
    time, then compare every chart with the reference over what is left."""
    schema = f"hub_test_{uuid.uuid4().hex[:12]}"
    log = HistoryLog(_backend(kind, folder, schema))
    try:
        await log.open()
        records = []
        for index, (telemetry_id, offset, value) in enumerate(data):
            records.append(record(log.next_seq(), telemetry_id, T0 + offset, value))
            log.append(records[-1])
            if index in flushes:
                await log.flush()
        if deleted_before is not None:
            await log.delete(T0 + deleted_before)
            records = [r for r in records if r.time_us >= T0 + deleted_before]
            after = record(log.next_seq(), "f", T0 + deleted_before + 5, 1.5)  # left pending
            log.append(after)
            records.append(after)
        for request in requests:
            assert await log.chart(request) == reference(records, request), request
    finally:
        await log.close()
        if kind == "postgres":
            await _drop(schema)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_charts_equal_the_raw_computation(kind: str) -> None:
    """For random points (every kind of value, out-of-order times over two days), random batches, a random
    deletion and random charts (widths that are and are not multiples of a tier, ranges with ragged ends
    or none), the answer is exactly the summary of the raw points."""
    if kind == "postgres" and (problem := asyncio.run(postgres_problem())) is not None:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
    folder = Path(tempfile.mkdtemp(prefix="planner-"))
    examples = itertools.count()

    @PROPERTY
    @given(
        data=points,
        flushes=st.sets(st.integers(0, 60), max_size=4),
        deleted_before=st.none() | st.integers(0, SPAN),
        requests=st.lists(charts, min_size=1, max_size=4),
    )
    def example(
        data: list[tuple[str, int, Value]],
        flushes: set[int],
        deleted_before: int | None,
        requests: list[ChartRequest],
    ) -> None:
        next(examples)
        asyncio.run(_check(kind, folder, data, flushes, deleted_before, requests))

    try:
        example()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert next(examples) >= 60
