"""What a follower does with the leader's stream: the checks that keep a client's messages whole."""

from __future__ import annotations

from typing import Any

from hub.cluster.stream import StreamFollower
from hub.history import Record


class Log:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.written = 0
        self.misses = 0

    def follow(self, record: Record) -> None:
        self.records.append(record)

    def mark(self, seq: int) -> None:
        self.written = seq

    def missed(self) -> None:
        self.misses += 1

    def last_seq(self) -> int:
        return self.records[-1].seq if self.records else 0


TERMS = {"A": 1, "B": 2}


def batch(leader: str, *seqs: int, written: int = 0, term: int = 0) -> dict[str, Any]:
    """A batch of the stream as `leader` sends it: data records of `seqs` and its written mark."""
    records = [[s, "data", "a", s, "{}"] for s in seqs]
    return {"leader": leader, "term": term or TERMS[leader], "records": records, "written": written}


def follower() -> tuple[StreamFollower, Log]:
    """A stream follower and the recording log it feeds."""
    log = Log()
    return StreamFollower(log.follow, log.mark, log.missed, log.last_seq), log


def test_in_order_batches_pass_and_repeats_are_dropped() -> None:
    """Batches in order reach the log, a repeated seq is dropped, and the written mark is passed on."""
    stream, log = follower()
    assert stream.receive(batch("A", 1, 2, 3))
    assert stream.receive(batch("A", 3, 4, written=2))  # 3 again: a repeat
    assert [r.seq for r in log.records] == [1, 2, 3, 4] and log.written == 2
    assert stream.gaps == 0 and stream.leader == "A"


def test_a_jump_within_one_leaders_stream_is_a_gap() -> None:
    """A jump in one leader's seqs is counted as a gap and reported as missed; its records are still kept."""
    stream, log = follower()
    stream.receive(batch("A", 1, 2))
    assert not stream.receive(batch("A", 5, 6))
    assert stream.gaps == 1 and log.misses == 1
    assert [r.seq for r in log.records] == [1, 2, 5, 6]  # what came is still delivered


def test_a_new_leader_numbers_past_the_old_one_and_the_old_one_is_ignored_after() -> None:
    """A new leader's jump past the old numbers is no gap; the replaced leader's late batches are ignored."""
    stream, log = follower()
    stream.receive(batch("A", 1, 2))
    assert stream.receive(batch("B", 1_000_003, 1_000_004))  # a takeover's jump is not a gap
    assert stream.receive(batch("A", 3))  # the old leader, not knowing yet it was replaced
    assert [r.seq for r in log.records] == [1, 2, 1_000_003, 1_000_004]
    assert stream.gaps == 0 and stream.leader == "B"


def test_a_leader_that_leads_again_is_followed_in_its_new_term() -> None:
    """A former leader that leads again in a later term is followed again, without counting a gap."""
    stream, log = follower()
    stream.receive(batch("A", 1, 2))
    stream.receive(batch("B", 1_000_003))
    assert stream.receive(batch("A", 2_000_004, 2_000_005, term=3))  # A again, a term later: no gap
    assert [r.seq for r in log.records][-2:] == [2_000_004, 2_000_005]
    assert stream.leader == "A" and stream.term == 3 and stream.gaps == 0
