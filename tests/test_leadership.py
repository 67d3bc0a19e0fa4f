"""Leadership and takeover, with real hubs on the in-memory bus and a fake clock for the leases: terms, the
stream a follower delivers, and a follower taking over from a leader that lost the bus."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from hub.cluster.lease import LEASE_S, RENEW_S
from hub.cluster.memory_bus import MemoryNetwork
from hub.history import Query
from hub.history.memory import MemoryHistory
from tests.cluster_fakes import FakeClock, HubProcess, hub_process, leader_and_follower
from tests.support import eventually

T0 = 1_800_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    """The time the leases expire by: it moves only when a test advances it."""
    return FakeClock()


@pytest.fixture
def network(clock: FakeClock) -> MemoryNetwork:
    """The bus the processes share."""
    return MemoryNetwork(clock)


@pytest.fixture
async def pair(network: MemoryNetwork, clock: FakeClock) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    """Two hub processes sharing one database: `a` started first and leads, `b` follows its stream."""
    async with leader_and_follower(network, clock) as processes:
        yield processes


def emit(process: HubProcess, count: int, start: int = 0) -> None:
    """`count` values of the fake source's `counter` from the leader `process`."""
    for i in range(start, start + count):
        process.source.emit("counter", i, T0 + i)


def data(process: HubProcess) -> list[tuple[int, int]]:
    """(seq, value) of each data message `process` delivered to its clients, in order."""
    return [(r.seq, json.loads(r.payload)["value"]) for r in process.delivered if r.type == "data"]


def notifications(process: HubProcess, code: str) -> list[dict[str, object]]:
    """The notifications with `code` that `process` delivered."""
    found = [json.loads(r.payload) for r in process.delivered if r.type == "notification"]
    return [n for n in found if n["code"] == code]


async def test_the_first_process_leads_term_one_and_the_other_follows(
    pair: tuple[HubProcess, HubProcess],
) -> None:
    """One leader (term 1, running the source) and one follower that names it, each reporting its role."""
    a, b = pair
    assert a.cluster.leadership.term == 1 and not b.cluster.leading
    assert a.cluster.health().role == "leader" and b.cluster.health().role == "follower"
    assert a.source.started.is_set() and not b.source.started.is_set()
    [announced] = notifications(a, "leader_changed")
    assert announced["level"] == "info" and announced["details"] == {"process": "a", "previous": None}


async def test_a_follower_delivers_the_leaders_stream_in_seq_order(
    pair: tuple[HubProcess, HubProcess],
) -> None:
    """What the leader publishes reaches the follower's clients with the same seqs, none twice."""
    a, b = pair
    emit(a, 20)
    await eventually(lambda: len(data(b)) == 20)
    assert data(b) == data(a)
    seqs = [seq for seq, _ in data(b)]
    assert seqs == sorted(set(seqs))


async def test_a_follower_takes_over_from_a_leader_cut_off_from_the_bus(
    pair: tuple[HubProcess, HubProcess], network: MemoryNetwork, clock: FakeClock
) -> None:
    """A leader that loses the bus steps down at its next renewal; once the lease expires the follower leads
    term 2, says whom it replaced, and numbers on past everything the old leader streamed."""
    a, b = pair
    emit(a, 10)
    await eventually(lambda: len(data(b)) == 10)
    network.isolate("a")
    await clock.advance(RENEW_S)
    await eventually(lambda: not a.cluster.leading and not a.hub.history.writing)
    assert not b.cluster.leading
    await clock.advance(LEASE_S)
    await eventually(lambda: b.cluster.leading)
    assert b.cluster.leadership.term == 2
    first, took_over = notifications(b, "leader_changed")  # a's, streamed to b, then b's own
    assert first["details"] == {"process": "a", "previous": None}
    assert took_over["level"] == "warning" and took_over["details"] == {"process": "b", "previous": "a"}
    emit(b, 5, start=10)
    await eventually(lambda: len(data(b)) == 15)
    seqs = [seq for seq, _ in data(b)]
    assert seqs == sorted(set(seqs)) and [value for _, value in data(b)] == list(range(15))


async def test_a_takeover_writes_what_the_old_leader_streamed_but_could_not_write(
    pair: tuple[HubProcess, HubProcess], network: MemoryNetwork, clock: FakeClock
) -> None:
    """Records the old leader streamed and never wrote (its database link broken) are written by the new
    leader from what it received, so the log holds exactly what was streamed."""
    a, b = pair
    a.database.broken = True
    emit(a, 8)
    await eventually(lambda: len(data(b)) == 8)
    network.isolate("a")
    await clock.advance(RENEW_S)
    await eventually(lambda: not a.cluster.leading)
    await clock.advance(LEASE_S)
    await eventually(lambda: b.cluster.leading)
    await b.hub.history.flush()
    logged = await b.database.query(Query(types=("data",)))
    assert [(r.seq, json.loads(r.payload)["value"]) for r in logged] == data(a)


async def test_a_leader_that_leaves_hands_over_at_once(network: MemoryNetwork, clock: FakeClock) -> None:
    """A leader that stops gives its lease up: the follower leads at its next try, without waiting for the
    lease to expire, and the log has everything the old leader published."""
    shared = MemoryHistory()
    async with AsyncExitStack() as leaving:
        a = await leaving.enter_async_context(hub_process("a", network, shared, clock))
        await eventually(lambda: a.cluster.leading)
        async with hub_process("b", network, shared, clock) as b:
            await eventually(lambda: b.cluster.health().leader == "a")
            emit(a, 5)
            await eventually(lambda: len(data(b)) == 5)
            await leaving.aclose()
            assert network.holder("leader") is None
            await clock.advance(RENEW_S)
            await eventually(lambda: b.cluster.leading)
            assert b.cluster.leadership.term == 2
            logged = await b.database.query(Query(types=("data",)))
            assert [json.loads(r.payload)["value"] for r in logged] == list(range(5))
