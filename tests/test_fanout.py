"""The fan-out, delivering to a recording transport: order, operations between deliveries, `stop`, and the
catch-up that keeps what a client held for a replay would have got."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest

from hub.errors import HubError
from hub.fanout import CatchUp, FanOut
from hub.history import Record
from tests.fakes import RecordingTransport
from tests.support import eventually

T = TypeVar("T")


@pytest.fixture
def transport() -> RecordingTransport:
    """The transport the fan-out delivers to."""
    return RecordingTransport()


@pytest.fixture
async def fanout(transport: RecordingTransport) -> AsyncIterator[FanOut]:
    """A running fan-out delivering to `transport`, stopped after the test."""
    fanout = FanOut(transport)
    fanout.start()
    try:
        yield fanout
    finally:
        await fanout.stop()


def record(seq: int, type: str = "notification", id: str | None = None) -> Record:
    """A logged message of `type`; data needs the telemetry `id`."""
    return Record(seq, type, id, 1_000_000 + seq, f'{{"type":"{type}","seq":{seq}}}')


def data(seq: int, id: str) -> Record:
    """A logged data message of telemetry `id`."""
    return record(seq, "data", id)


async def delivered(fanout: FanOut) -> None:
    """Return once everything published so far has been delivered (fail if that takes seconds: the fan-out
    has died)."""

    async def nothing() -> None:
        pass

    await asyncio.wait_for(fanout.serialized(nothing), 5)


async def queued(fanout: FanOut, call: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
    """`call` run through `serialized`, as a task; returns once the operation is in the queue."""
    before = fanout.backlog
    task = asyncio.create_task(fanout.serialized(call))
    await eventually(lambda: fanout.backlog > before)
    return task


async def held(fanout: FanOut, client: str, ids: set[str], limit: int) -> CatchUp:
    """Hold `client` for a replay, from inside the fan-out as a resume does."""

    async def begin() -> CatchUp:
        return fanout.catch_up(client, ids, limit)

    return await fanout.serialized(begin)


async def test_messages_are_delivered_once_each_in_publish_order(
    fanout: FanOut, transport: RecordingTransport
) -> None:
    """Every published message is delivered exactly once, in the order published, to everyone."""
    for seq in range(1, 6):
        fanout.publish(data(seq, "a") if seq % 2 else record(seq))
    await delivered(fanout)
    assert transport.seqs == [1, 2, 3, 4, 5]
    assert all(skip == frozenset() for _, skip in transport.delivered)
    assert fanout.delivered_seq == 5 and fanout.backlog == 0


async def test_operations_run_between_deliveries_in_queue_order(
    fanout: FanOut, transport: RecordingTransport
) -> None:
    """An operation runs after every message queued before it has been delivered and before any queued
    after it, and its caller gets its result."""

    async def look() -> tuple[list[int], int]:
        return list(transport.seqs), fanout.delivered_seq

    transport.pause()
    fanout.publish(record(1))
    await eventually(lambda: fanout.delivered_seq == 1)  # the fan-out is inside the delivery of 1
    first = await queued(fanout, look)
    fanout.publish(record(2))
    fanout.publish(record(3))
    second = await queued(fanout, look)
    fanout.publish(record(4))
    transport.resume()
    assert await first == ([1], 1)
    assert await second == ([1, 2, 3], 3)
    await delivered(fanout)
    assert transport.seqs == [1, 2, 3, 4]


async def test_a_failing_operation_fails_its_caller_only(
    fanout: FanOut, transport: RecordingTransport
) -> None:
    """An operation's exception is raised to its caller; the fan-out goes on delivering."""

    async def broken() -> None:
        raise ValueError("no such client")

    fanout.publish(record(1))
    with pytest.raises(ValueError, match="no such client"):
        await fanout.serialized(broken)
    fanout.publish(record(2))
    await delivered(fanout)
    assert transport.seqs == [1, 2]


async def test_a_failed_delivery_is_logged_and_the_next_is_delivered(
    fanout: FanOut, transport: RecordingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery that raises is logged with its seq, and the messages after it are still delivered."""
    transport.failing.add(2)
    with caplog.at_level(logging.ERROR, logger="hub.fanout"):
        for seq in (1, 2, 3):
            fanout.publish(record(seq))
        await delivered(fanout)
    assert transport.seqs == [1, 3]
    assert [r.getMessage() for r in caplog.records] == ["delivering seq 2 failed"]


async def test_stop_fails_queued_operations(fanout: FanOut, transport: RecordingTransport) -> None:
    """Operations still queued when the fan-out stops fail with a HubError instead of never returning, and
    never run."""
    ran: list[str] = []

    async def remember() -> None:
        ran.append("ran")

    transport.pause()
    fanout.publish(record(1))
    await eventually(lambda: fanout.delivered_seq == 1)
    waiting = [await queued(fanout, remember) for _ in range(2)]
    await fanout.stop()
    for task in waiting:
        with pytest.raises(HubError, match="shutting down"):
            await asyncio.wait_for(task, 1)
    assert ran == [] and fanout.backlog == 0


async def test_after_stop_an_operation_runs_in_its_caller(fanout: FanOut) -> None:
    """Once the fan-out has stopped, `serialized` runs the operation at once rather than queueing it."""

    async def answer() -> int:
        return 42

    await fanout.stop()
    assert await asyncio.wait_for(fanout.serialized(answer), 1) == 42


async def test_latest_holds_the_last_value_delivered_per_id(fanout: FanOut) -> None:
    """The fan-out keeps the seq and JSON of the last data message of each id; other messages change
    nothing."""
    for message in (data(1, "a"), data(2, "b"), data(3, "a"), record(4), record(5, "confirmation")):
        fanout.publish(message)
    await delivered(fanout)
    assert fanout.latest == {"a": (3, data(3, "a").payload), "b": (2, data(2, "b").payload)}


async def test_a_held_client_gets_nothing_live_and_its_catch_up_keeps_it_in_order(
    fanout: FanOut, transport: RecordingTransport
) -> None:
    """While held, a client is skipped by every delivery, and its catch-up keeps, in seq order, the data of
    its ids and every broadcast, but not the data of other ids."""
    catch_up = await held(fanout, "c1", {"a", "b"}, limit=10)
    messages = [data(1, "a"), data(2, "z"), record(3), data(4, "b"), record(5, "confirmation"), data(6, "a")]
    for message in messages:
        fanout.publish(message)
    await delivered(fanout)
    assert transport.seqs == [1, 2, 3, 4, 5, 6]
    assert all(skip == {"c1"} for _, skip in transport.delivered)
    assert [r.seq for r in catch_up.missed] == [1, 3, 4, 5, 6] and not catch_up.overflowed


async def test_a_catch_up_begun_between_deliveries_marks_the_last_one(
    fanout: FanOut, transport: RecordingTransport
) -> None:
    """A catch-up marks the last seq delivered before it began (the replay covers up to it) and keeps
    everything after, so nothing is both replayed and kept, and nothing falls between."""
    transport.pause()
    fanout.publish(record(1))
    await eventually(lambda: fanout.delivered_seq == 1)
    fanout.publish(record(2))

    async def begin() -> CatchUp:
        return fanout.catch_up("c1", set(), limit=10)

    beginning = await queued(fanout, begin)
    fanout.publish(record(3))
    transport.resume()
    catch_up = await beginning
    await delivered(fanout)
    assert catch_up.mark == 2 and [r.seq for r in catch_up.missed] == [3]
    assert [skip for _, skip in transport.delivered] == [frozenset(), frozenset(), {"c1"}]


async def test_a_catch_up_keeps_up_to_its_limit_and_says_it_overflowed(fanout: FanOut) -> None:
    """A catch-up keeps the first `limit` messages and flags that more came, so the client can be told it
    missed some."""
    catch_up = await held(fanout, "c1", {"a"}, limit=2)
    for seq in range(1, 5):
        fanout.publish(data(seq, "a"))
    await delivered(fanout)
    assert [r.seq for r in catch_up.missed] == [1, 2] and catch_up.overflowed


async def test_once_caught_up_a_client_gets_live_messages_again(
    fanout: FanOut, transport: RecordingTransport
) -> None:
    """After `caught_up` the client is no longer skipped and its catch-up keeps nothing more."""
    catch_up = await held(fanout, "c1", {"a"}, limit=10)
    fanout.publish(data(1, "a"))

    async def release() -> None:
        fanout.caught_up(catch_up)

    await fanout.serialized(release)
    fanout.publish(data(2, "a"))
    await delivered(fanout)
    assert [skip for _, skip in transport.delivered] == [{"c1"}, frozenset()]
    assert [r.seq for r in catch_up.missed] == [1] and fanout.held == set()
