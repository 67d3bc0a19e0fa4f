"""The lease that chooses the leading process, on the in-memory bus with a fake clock: who gets it, how long a
holder keeps it, and when another one may take it."""

from __future__ import annotations

import pytest

from hub.cluster.lease import LEASE_S, RENEW_S, Lease
from hub.cluster.memory_bus import MemoryNetwork
from tests.cluster_fakes import FakeClock, settle, started

KEY = "leader"


@pytest.fixture
def clock() -> FakeClock:
    """The time the leases expire by: it moves only when a test advances it."""
    return FakeClock()


@pytest.fixture
def network(clock: FakeClock) -> MemoryNetwork:
    """The bus the contenders share."""
    return MemoryNetwork(clock)


def lease(network: MemoryNetwork, process: str, clock: FakeClock) -> Lease:
    """The lease as `process` contends for it."""
    return Lease(network.bus(process), KEY, clock)


async def test_the_first_contender_holds_the_lease_and_the_next_waits_for_its_release(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """A free lease is taken at once; a second contender waits and takes it on its next try once released."""
    first, second = lease(network, "a", clock), lease(network, "b", clock)
    await first.acquire()
    assert first.held and network.holder(KEY) == "a"
    keeper = await started(first.keep())
    waiting = await started(second.acquire())
    await clock.advance(3 * RENEW_S)
    assert not waiting.done() and not second.held
    keeper.cancel()
    await first.release()
    assert not first.held and network.holder(KEY) is None
    await clock.advance(RENEW_S)
    assert waiting.done() and second.held and network.holder(KEY) == "b"


async def test_a_renewed_lease_is_kept_and_an_unrenewed_one_expires_after_lease_s(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """While its holder renews it nobody else gets the lease; once it stops, another gets it after LEASE_S."""
    holder, contender = lease(network, "a", clock), lease(network, "b", clock)
    await holder.acquire()
    keeper = await started(holder.keep())
    waiting = await started(contender.acquire())
    await clock.advance(10 * LEASE_S)
    assert not waiting.done() and holder.held
    keeper.cancel()  # the holder freezes: no more renewals
    await settle()
    await clock.advance(LEASE_S - 2 * RENEW_S)
    assert not waiting.done()
    await clock.advance(2 * RENEW_S)
    assert waiting.done() and network.holder(KEY) == "b"


async def test_keep_returns_when_the_bus_cannot_be_reached(network: MemoryNetwork, clock: FakeClock) -> None:
    """A holder cut off from the bus stops at its next renewal and no longer counts itself the holder."""
    holder = lease(network, "a", clock)
    await holder.acquire()
    keeper = await started(holder.keep())
    await clock.advance(3 * RENEW_S)
    assert not keeper.done()
    network.isolate("a")
    await clock.advance(RENEW_S)
    assert keeper.done() and not holder.held


async def test_keep_returns_when_another_process_took_the_lease(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """A holder frozen past the expiry finds, at its next renewal, that another one holds the lease."""
    frozen, other = lease(network, "a", clock), lease(network, "b", clock)
    await frozen.acquire()
    await clock.advance(LEASE_S + RENEW_S)
    await other.acquire()
    keeper = await started(frozen.keep())
    await clock.advance(RENEW_S)
    assert keeper.done() and not frozen.held
    assert network.holder(KEY) == "b"


async def test_releasing_a_lost_lease_leaves_the_new_holder_alone(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """A former holder that releases after another took the lease over does not free it."""
    former, current = lease(network, "a", clock), lease(network, "b", clock)
    await former.acquire()
    await clock.advance(LEASE_S + RENEW_S)
    await current.acquire()
    await former.release()
    assert network.holder(KEY) == "b" and not former.held


async def test_a_contender_cut_off_from_the_bus_keeps_trying(
    network: MemoryNetwork, clock: FakeClock
) -> None:
    """Contending while the bus is out of reach retries every RENEW_S and takes the lease once it is back."""
    contender = lease(network, "a", clock)
    network.isolate("a")
    waiting = await started(contender.acquire())
    await clock.advance(5 * RENEW_S)
    assert not waiting.done()
    network.reconnect("a")
    await clock.advance(RENEW_S)
    assert waiting.done() and contender.held
