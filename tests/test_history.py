"""The history log over every backend: seq across restarts and crashes, queries, deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hub.history import HistoryBackend, HistoryLog, Query, Record
from hub.history.log import RESERVE_AHEAD
from tests.backends import Store
from tests.fakes import UnwritableHistory

Reopen = Callable[[], HistoryBackend]


@pytest.fixture
def reopen(store: Store) -> Reopen:
    """A factory giving the same store each time it is called, as a restarted hub would see it: every
    backend (memory, SQLite, PostgreSQL) in turn."""
    return store


async def fill(log: HistoryLog, count: int, start_us: int = 1_000_000) -> list[Record]:
    """Append `count` records of every type, a millisecond apart, and flush them; return them."""
    records = []
    for i in range(count):
        seq = log.next_seq()
        kind = ("data", "data", "notification", "confirmation")[i % 4]
        telemetry_id = None if kind == "confirmation" else ("a", "b")[i % 2]
        record = Record(seq, kind, telemetry_id, start_us + i * 1000, f'{{"seq":{seq}}}')
        log.append(record)
        records.append(record)
    await log.flush()
    return records


async def test_seq_continues_after_a_clean_restart(reopen: Reopen) -> None:
    """After close and reopen the next seq follows the last one used, with no gap."""
    log = HistoryLog(reopen())
    await log.open()
    written = await fill(log, 10)
    await log.close()
    again = HistoryLog(reopen())
    await again.open()
    assert again.next_seq() == written[-1].seq + 1
    assert again.count == 10
    await again.close()


async def test_seq_is_never_reused_after_a_crash(reopen: Reopen) -> None:
    """Numbers handed out but never written (a crash) are skipped on restart, never given again."""
    log = HistoryLog(reopen())
    await log.open()
    await fill(log, 5)
    streamed_not_written = [log.next_seq() for _ in range(3)]  # then the process dies: no close
    restarted = HistoryLog(reopen())
    await restarted.open()
    assert restarted.next_seq() > max(streamed_not_written)
    assert restarted.last_seq <= 5 + RESERVE_AHEAD + 1
    await restarted.close()


async def test_clearing_never_resets_seq(reopen: Reopen) -> None:
    """Deleting everything keeps seq going up, also across a restart."""
    log = HistoryLog(reopen())
    await log.open()
    written = await fill(log, 8)
    assert await log.delete(None) == 8
    assert log.count == 0
    await log.close()
    again = HistoryLog(reopen())
    await again.open()
    assert again.next_seq() == written[-1].seq + 1
    await again.close()


async def test_queries_filter_order_and_limit(reopen: Reopen) -> None:
    """Each filter narrows the result as documented; pending records are included."""
    log = HistoryLog(reopen())
    await log.open()
    records = await fill(log, 40)
    extra = Record(log.next_seq(), "data", "a", 999_000_000, "{}")
    log.append(extra)  # not yet written: a query still sees it
    everything = [*records, extra]

    async def seqs(**filters: object) -> list[int]:
        return [r.seq for r in await log.query(Query(**filters))]  # type: ignore[arg-type]

    assert await seqs(limit=100) == [r.seq for r in everything]
    assert await seqs(ids=("a",), limit=100) == [r.seq for r in everything if r.id == "a"]
    assert await seqs(types=("confirmation", "notification"), limit=100) == [
        r.seq for r in records if r.type != "data"
    ]
    assert await seqs(start_us=1_010_000, end_us=1_020_000, limit=100) == [r.seq for r in records[10:20]]
    assert await seqs(after_seq=records[35].seq, limit=100) == [r.seq for r in everything[36:]]
    assert await seqs(before_seq=records[3].seq, order="desc", limit=100) == [r.seq for r in records[2::-1]]
    assert await seqs(order="desc", limit=3) == [extra.seq, records[-1].seq, records[-2].seq]
    assert (await log.query(Query(ids=("a",), limit=1)))[0].payload == records[0].payload
    await log.close()


async def test_latest_and_delete_before(reopen: Reopen) -> None:
    """latest gives each id's newest data record; delete(before) removes only older records."""
    log = HistoryLog(reopen())
    await log.open()
    records = await fill(log, 20)
    latest = {r.id: r.seq for r in await log.latest(["a", "b", "zzz"])}
    assert latest == {
        "a": max(r.seq for r in records if r.id == "a" and r.type == "data"),
        "b": max(r.seq for r in records if r.id == "b" and r.type == "data"),
    }
    assert await log.delete(records[5].time_us) == 5
    assert [r.seq for r in await log.query(Query(limit=100))] == [r.seq for r in records[5:]]
    await log.close()


async def test_failed_write_keeps_records_and_reports() -> None:
    """A write error keeps the batch for the next attempt and shows in stats; nothing is lost."""
    backend = UnwritableHistory()
    log = HistoryLog(backend)
    await log.open()
    await fill_without_flush(log, 3)
    with pytest.raises(OSError):
        await log.flush()
    assert log.stats().error == "OSError: no space left on device" and log.pending == 3
    backend.broken = False
    await log.flush()
    assert log.stats().error is None and len(await log.query(Query())) == 3
    await log.close()


async def fill_without_flush(log: HistoryLog, count: int) -> None:
    """Append `count` data records without writing them."""
    for _ in range(count):
        seq = log.next_seq()
        log.append(Record(seq, "data", "a", seq, "{}"))


async def test_numbers_are_not_handed_out_past_the_reservation() -> None:
    """While writes fail, the log stops accepting telemetry before the reserved seq numbers run out."""
    backend = UnwritableHistory()
    log = HistoryLog(backend, reserve_ahead=100)
    await log.open()
    assert log.accepting
    await fill_without_flush(log, 89)
    assert log.accepting
    await fill_without_flush(log, 1)
    assert not log.accepting  # 10 numbers left: kept for confirmations and notifications
    with pytest.raises(OSError):
        await log.flush()
    backend.broken = False
    await log.flush()
    assert log.accepting and log.pending == 0


async def test_a_crash_marks_the_lost_numbers_unrecoverable(reopen: Reopen) -> None:
    """After a crash the numbers handed out but never written count as lost; a clean restart loses none."""
    log = HistoryLog(reopen(), reserve_ahead=1000)
    await log.open()
    await fill(log, 5)
    await log.close()
    clean = HistoryLog(reopen(), reserve_ahead=1000)
    await clean.open()
    assert clean.unrecoverable_seq == 0
    await fill(clean, 5)
    lost = clean.next_seq()  # streamed, never written: then the process dies
    crashed = HistoryLog(reopen(), reserve_ahead=1000)
    await crashed.open()
    assert crashed.unrecoverable_seq >= lost
    assert crashed.last_seq == crashed.unrecoverable_seq  # the next seq starts past everything lost
    await crashed.close()
    again = HistoryLog(reopen(), reserve_ahead=1000)
    await again.open()
    assert again.unrecoverable_seq == crashed.unrecoverable_seq  # remembered across restarts
    await again.close()


async def test_deleting_marks_what_was_deleted_unrecoverable(reopen: Reopen) -> None:
    """Deleting records raises the unrecoverable mark to the highest deleted seq, durably."""
    log = HistoryLog(reopen())
    await log.open()
    records = await fill(log, 10)
    await log.delete(records[4].time_us)
    assert log.unrecoverable_seq == records[3].seq
    await log.close()
    again = HistoryLog(reopen())
    await again.open()
    assert again.unrecoverable_seq == records[3].seq
    await again.close()


async def test_queries_see_records_while_they_are_being_written(reopen: Reopen) -> None:
    """A query never misses or repeats a record, whatever the writer is doing meanwhile."""
    log = HistoryLog(reopen())
    await log.open()
    await fill(log, 10)
    await fill_without_flush(log, 10)
    flushing = asyncio.create_task(log.flush())
    await asyncio.sleep(0)  # the batch is now being written: neither pending nor in the backend
    seqs = [r.seq for r in await log.query(Query(limit=100))]
    await flushing
    assert seqs == list(range(1, 21))
    assert [r.seq for r in await log.query(Query(order="desc", limit=5))] == [20, 19, 18, 17, 16]
    await log.close()


async def test_a_follower_serves_what_it_received_until_the_writer_has_written_it(reopen: Reopen) -> None:
    """Another process's log: records the writer streamed are served at once, without a repeat once the
    writer has written them, and are forgotten when the writer says they are written."""
    writer = HistoryLog(reopen())
    await writer.open()
    follower = HistoryLog(reopen())
    await follower.open(write=False)
    written = await fill(writer, 4)
    streamed = [Record(writer.next_seq(), "data", "a", 2_000_000 + i, f'{{"n":{i}}}') for i in range(3)]
    for record in written + streamed:
        follower.follow(record)
    for order in ("asc", "desc"):
        everything = await follower.query(Query(order=order))
        assert [r.seq for r in everything] == sorted(
            (r.seq for r in written + streamed), reverse=order == "desc"
        )
        newest_two = await follower.query(Query(order=order, limit=2))
        assert newest_two == everything[:2]
    follower.written(written[-1].seq)
    assert follower.pending == len(streamed) and follower.last_seq == streamed[-1].seq
    await writer.close()
    await follower.close()


async def test_a_takeover_writes_what_the_old_writer_streamed_and_numbers_past_it(reopen: Reopen) -> None:
    """A follower taking over writes what the dead writer streamed but never wrote, and numbers past it."""
    old = HistoryLog(reopen())
    await old.open()
    written = await fill(old, 4)
    follower = HistoryLog(reopen())
    await follower.open(write=False)
    streamed = [Record(old.next_seq(), "data", "a", 2_000_000 + i, "{}") for i in range(3)]
    for record in written[-1:] + streamed:  # it joined before the last batch was written
        follower.follow(record)
    # the old writer dies here, its last three records not written
    await follower.take_over()
    assert follower.writing and follower.unrecoverable_seq == 0  # nothing lost: it had them all
    assert follower.next_seq() > written[-1].seq + RESERVE_AHEAD
    again = HistoryLog(reopen())
    await again.open(write=False)
    assert [r.seq for r in await again.query(Query())] == [r.seq for r in written + streamed]
    await follower.close()
    await again.close()


async def test_a_takeover_after_a_gap_counts_the_old_reservation_as_lost(reopen: Reopen) -> None:
    """A follower that missed part of the stream counts the old reservation as lost when it takes over."""
    old = HistoryLog(reopen())
    await old.open()
    await fill(old, 4)
    follower = HistoryLog(reopen())
    await follower.open(write=False)
    old.next_seq()  # streamed, and this follower missed it
    follower.missed()
    follower.follow(Record(old.next_seq(), "data", "a", 3_000_000, "{}"))
    await follower.take_over()
    assert follower.unrecoverable_seq >= 4 + RESERVE_AHEAD  # a resume from before it is incomplete
    await follower.close()


async def test_a_follower_waits_for_the_writer_to_report_a_seq_written(reopen: Reopen) -> None:
    """`written_up_to(seq)` returns once the writer reports that seq written, not at an earlier mark."""
    follower = HistoryLog(reopen())
    await follower.open(write=False)
    waiting = asyncio.create_task(follower.written_up_to(5))
    follower.written(3)
    await asyncio.sleep(0)  # let the waiter see the first mark
    assert not waiting.done()
    follower.written(5)
    await asyncio.wait_for(waiting, 1)
    await follower.close()
