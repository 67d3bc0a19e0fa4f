"""Resuming after a dropped connection or a hub restart: every missed message once, in order, or a reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hub.app import create_app
from hub.core import Hub
from hub.history import HistoryBackend, HistoryLog, Query, Record
from hub.history.memory import MemoryHistory
from hub.history.sqlite import SqliteHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import FakeSource
from tests.support import Client, Message, is_, serve

IDS = ("voltage", "counter")


@asynccontextmanager
async def producing(source: FakeSource, clock: Callable[[], float]) -> AsyncIterator[None]:
    """Produce voltage, counter and current (not subscribed) values every 2 ms until the block ends."""

    async def produce() -> None:
        i = 0
        while True:
            source.emit("voltage", 28.0, clock())
            source.emit("counter", i, clock())
            source.emit("current", 1.0, clock())
            i += 1
            await asyncio.sleep(0.002)

    task = asyncio.create_task(produce())
    try:
        yield
    finally:
        task.cancel()


async def logged(hub: Hub, after: int, upto: int, ids: tuple[str, ...] | None = IDS) -> list[int]:
    """The seqs the log holds for `ids` (or of broadcasts when None) in (after, upto]."""
    types = ("data",) if ids else ("confirmation", "notification")
    records = await hub.history.query(
        Query(ids=ids, types=types, after_seq=after, before_seq=upto + 1, limit=10**6)
    )
    return [r.seq for r in records]


def seqs(messages: list[Message], types: tuple[str, ...] = ("data",)) -> list[int]:
    """The seqs of the messages of `types`, in the order received."""
    return [m["seq"] for m in messages if m["type"] in types]


async def test_a_dropped_client_resumes_without_gap_or_repeat(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """Data, confirmations and notifications missed while away arrive once, in order, then live follows."""
    running.source.auto["set_mode"] = ("completed", "ok")
    first = await running.client()
    await first.call("subscribe", {"ids": list(IDS)})
    async with producing(running.source, clock):
        await first.wait_for(is_("data"), count=50)
        await first.close()
        last_seen = max(m["seq"] for m in first.received)
        other = await running.client()  # activity while the first is away: a command and a notification
        await other.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
        running.source.notify("info", "eclipse_entry", "entering eclipse")
        await other.wait_for(is_("notification", code="eclipse_entry"))
        second = await running.client(auth={"since": last_seen})
        ack = await second.call("subscribe", {"ids": list(IDS)})
        assert ack["recovered"] is True and ack["replayed"] > 0 and ack["subscribed"] == sorted(IDS)
        await second.wait_for(lambda m: m["type"] == "data" and m["seq"] > ack_seq(second, ack), count=50)
    upto = max(m["seq"] for m in second.received)
    received = first.received + second.received
    assert seqs(received) == await logged(running.hub, 0, upto)
    broadcasts = ("confirmation", "notification")
    missed = await logged(running.hub, last_seen, upto, ids=None)
    assert (
        seqs(second.received, broadcasts) == missed and len(missed) >= 4
    )  # 3 steps of the command, 1 notice
    assert seqs(second.received, ("data", *broadcasts)) == sorted(
        seqs(second.received, ("data", *broadcasts))
    )


def ack_seq(client: Client, ack: dict[str, Any]) -> int:
    """The largest seq received before the ack: replayed messages all come before it."""
    replayed = client.received[: ack["replayed"]]
    return max((m["seq"] for m in replayed), default=0)


async def test_subscribe_with_since_on_a_live_connection_replays_only_new_ids(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """A subscribe with since replays the missed data of the ids it adds, not of ids already streaming."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage"]})
    for i in range(5):
        running.source.emit("counter", i, clock())
        running.source.emit("voltage", 28.0 + i, clock())
    await client.wait_for(is_("data", id="voltage"), count=5)
    ack = await client.call("subscribe", {"ids": ["counter", "voltage"], "since": 0})
    assert (ack["replayed"], ack["recovered"]) == (5, True)
    assert [m["value"] for m in client.of("data", id="counter")] == [0, 1, 2, 3, 4]
    assert len(client.of("data", id="voltage")) == 5


async def test_an_unfillable_gap_says_why(running: RunningHub, clock: Callable[[], float]) -> None:
    """A since ahead of the log, or older than a clearing, gets recovered: false with a reason and the
    latest values as on a plain subscribe."""
    for i in range(5):
        running.source.emit("counter", i, clock())
    client = await running.client()
    ahead = await client.call("subscribe", {"ids": ["counter"], "since": 10**9})
    assert ahead["recovered"] is False and "ahead" in ahead["reason"] and ahead["replayed"] == 0
    assert [m["value"] for m in client.of("data")] == [4]  # the latest value instead
    deleted = await running.hub.history.delete(None)
    assert deleted >= 5
    other = await running.client()
    cleared = await other.call("subscribe", {"ids": ["counter"], "since": 1})
    assert cleared["recovered"] is False and "no longer in the log" in cleared["reason"]


async def test_a_gap_larger_than_max_replay_is_refused(
    source: FakeSource, settings: Settings, clock: Callable[[], float]
) -> None:
    """More missed messages than HUB_MAX_REPLAY: nothing is replayed and the client is told to reload."""
    app = create_app(settings.model_copy(update={"max_replay": 3}), source=source)
    async with serve(app) as url:
        await source.started.wait()
        for i in range(10):
            source.emit("counter", i, clock())
        client = await Client().connect(url)
        ack = await client.call("subscribe", {"ids": ["counter"], "since": 0})
        assert ack["recovered"] is False and "HUB_MAX_REPLAY" in ack["reason"]
        assert [m["value"] for m in client.of("data")] == [9]
        await client.close()


async def test_resume_across_a_clean_hub_restart(
    settings: Settings, tmp_path: Path, clock: Callable[[], float]
) -> None:
    """A client reconnecting to a restarted hub (same SQLite log) gets every seq of its ids exactly once."""
    database = tmp_path / "history.db"
    received: list[Message] = []

    async def run(backend: HistoryBackend, since: int | None) -> tuple[Hub, int]:
        source = FakeSource()
        app = create_app(settings, source=source, history=backend)
        async with serve(app) as url:
            await source.started.wait()
            client = await Client().connect(url, auth={} if since is None else {"since": since})
            ack = await client.call("subscribe", {"ids": list(IDS)})
            assert since is None or ack["recovered"] is True
            async with producing(source, clock):
                await client.wait_for(is_("data"), count=len(client.received) + 40)
            await client.close()
            received.extend(client.received)
            return app.hub, max(m["seq"] for m in client.received)

    _, last_seen = await run(SqliteHistory(database), None)
    hub, upto = await run(SqliteHistory(database), last_seen)
    log = HistoryLog(SqliteHistory(database))
    await log.open()
    expected = [
        r.seq for r in await log.query(Query(ids=IDS, types=("data",), before_seq=upto + 1, limit=10**6))
    ]
    await log.close()
    assert seqs(received) == expected and len(set(expected)) == len(expected)
    assert hub.history.unrecoverable_seq == 0


async def test_the_seam_is_exact(running: RunningHub, clock: Callable[[], float]) -> None:
    """The last message delivered before the resume is replayed, the first one after it arrives live."""
    first = await running.client()
    await first.call("subscribe", {"ids": ["counter"]})
    running.source.emit("counter", 0, clock())
    [seen] = await first.wait_for(is_("data"))
    await first.close()
    running.source.emit("counter", 1, clock())  # missed: the last delivery before the resume
    watcher = await running.client()
    await watcher.call("subscribe", {"ids": ["counter"]})  # after this ack, counter 1 has been delivered
    second = await running.client(auth={"since": seen["seq"]})
    ack = await second.call("subscribe", {"ids": ["counter"]})
    running.source.emit("counter", 2, clock())  # live
    await second.wait_for(is_("data", value=2))
    assert ack["replayed"] == 1
    assert [m["value"] for m in second.of("data")] == [1, 2]


async def test_broadcasts_are_held_until_the_resume(running: RunningHub) -> None:
    """A notification sent between a resuming client's connect and its subscribe reaches it once, in order."""
    first = await running.client()
    await first.call("subscribe", {"ids": []})
    running.source.notify("info", "before", "seen live")
    [seen] = await first.wait_for(is_("notification", code="before"))
    await first.close()
    running.source.notify("info", "missed", "sent while away")
    resuming = await running.client(auth={"since": seen["seq"]})
    running.source.notify("info", "between", "sent after connect, before subscribe")
    watcher = await running.client()
    running.source.notify("info", "marker", "delivered to everyone connected")
    await watcher.wait_for(is_("notification", code="marker"))  # so "between" has been delivered too
    assert resuming.of("notification") == []  # held
    ack = await resuming.call("subscribe", {"ids": ["counter"]})
    assert ack["recovered"] is True
    running.source.notify("info", "after", "live again")
    await resuming.wait_for(is_("notification", code="after"))
    codes = [m["code"] for m in resuming.of("notification")]
    assert codes == ["missed", "between", "marker", "after"]


class GatedHistory(MemoryHistory):
    """The memory backend, whose queries wait for `gate` while it is closed: a slow replay on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    async def query(self, query: Query) -> list[Record]:
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        return await super().query(query)


async def test_a_slow_replay_delays_no_one_and_the_resumed_stream_stays_in_order(
    source: FakeSource, settings: Settings, clock: Callable[[], float]
) -> None:
    """While a replay waits for the log, other clients get live data at once; the resuming client gets the
    replay, then what arrived meanwhile, each message once, in seq order."""
    history = GatedHistory()
    async with serve(create_app(settings, source=source, history=history)) as url:
        await source.started.wait()
        first = await Client().connect(url)
        await first.call("subscribe", {"ids": ["counter"]})
        source.emit("counter", 0, clock())
        [seen] = await first.wait_for(is_("data"))
        await first.close()
        for i in range(1, 10):
            source.emit("counter", i, clock())  # missed
        watcher = await Client().connect(url)
        await watcher.call("subscribe", {"ids": ["counter"]})
        history.gate.clear()
        resuming = await Client().connect(url, auth={"since": seen["seq"]})
        subscribing = asyncio.create_task(resuming.call("subscribe", {"ids": ["counter"]}))
        await history.waiting.wait()  # the replay is reading the log
        for i in range(10, 20):
            source.emit("counter", i, clock())  # live, during the replay
        await watcher.wait_for(is_("data", value=19))  # delivered to the others meanwhile
        assert resuming.of("data") == []  # held until its replay is done
        history.gate.set()
        ack = await subscribing
        await resuming.wait_for(is_("data", value=19))
        assert ack["recovered"] is True and ack["replayed"] == 9
        assert [m["value"] for m in resuming.of("data")] == list(range(1, 20))
        received = seqs(resuming.received)
        assert received == sorted(received) and len(set(received)) == len(received)
        for client in (watcher, resuming):
            await client.close()


class FailingHistory(MemoryHistory):
    """The memory backend, whose queries fail once `failing` is set: a log that cannot be read."""

    failing = False

    async def query(self, query: Query) -> list[Record]:
        if self.failing:
            raise OSError("disk gone")
        return await super().query(query)


async def test_a_replay_the_log_cannot_serve_says_why_and_lets_live_data_through(
    source: FakeSource, settings: Settings, clock: Callable[[], float]
) -> None:
    """A resume whose log reads fail is answered recovered: false with the reason, and the client is not
    left held: live data reaches it right after."""
    history = FailingHistory()
    async with serve(create_app(settings, source=source, history=history)) as url:
        await source.started.wait()
        first = await Client().connect(url)
        await first.call("subscribe", {"ids": ["counter"]})
        source.emit("counter", 0, clock())
        [seen] = await first.wait_for(is_("data"))
        source.emit("counter", 1, clock())
        await first.wait_for(is_("data", value=1))
        history.failing = True
        resuming = await Client().connect(url, auth={"since": seen["seq"]})
        ack = await resuming.call("subscribe", {"ids": ["counter"]})
        assert ack["recovered"] is False and "could not be read" in ack["reason"]
        source.emit("counter", 2, clock())
        await resuming.wait_for(is_("data", value=2))
        for client in (first, resuming):
            await client.close()
