"""The publisher over a real log (the memory backend) and a running fan-out to a recording transport: `seq`
numbering, the log before delivery, one JSON text for all, the counters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from hub.commands import PendingCommand
from hub.fanout import FanOut, Transport
from hub.history import HistoryLog, Query, Record
from hub.history.memory import MemoryHistory
from hub.messages import format_timestamp
from hub.publisher import Publisher
from tests.fakes import RecordingTransport

T0_US = 1_800_000_000_000_000


class WatchedFanOut(FanOut):
    """The real fan-out, noting for each message it is handed how many messages the log held then."""

    def __init__(self, transport: Transport, log: HistoryLog) -> None:
        super().__init__(transport)
        self.log = log
        self.logged_at_hand_off: list[tuple[int, int]] = []

    def publish(self, record: Record) -> None:
        self.logged_at_hand_off.append((record.seq, self.log.count))
        super().publish(record)


@dataclass
class Parts:
    """A publisher and what it publishes to."""

    publisher: Publisher
    log: HistoryLog
    fanout: WatchedFanOut
    transport: RecordingTransport
    forwarded: list[Record]

    async def delivered(self) -> list[Record]:
        """Everything delivered, once all published so far has been."""

        async def nothing() -> None:
            pass

        await asyncio.wait_for(self.fanout.serialized(nothing), 5)
        return [record for record, _ in self.transport.delivered]


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    """A publisher over an opened log and a running fan-out; both stopped after the test."""
    log = HistoryLog(MemoryHistory())
    await log.open()
    transport = RecordingTransport()
    fanout = WatchedFanOut(transport, log)
    forwarded: list[Record] = []
    publisher = Publisher(log, fanout, forward=forwarded.append)
    fanout.start()
    try:
        yield Parts(publisher, log, fanout, transport, forwarded)
    finally:
        await fanout.stop()
        await log.close()


def command() -> PendingCommand:
    """An accepted set_mode command."""
    return PendingCommand(command_id="c0ffee", command="set_mode", request_id="r1")


def publish_one_of_each(publisher: Publisher) -> None:
    """A data message, a notification and a confirmation, in that order."""
    publisher.data("voltage", 28.5, T0_US)
    publisher.notification("warning", "limit_warning", "voltage high", id="voltage", time_us=T0_US + 1)
    publisher.confirmation(command(), "accepted", "queued", {"mode": "safe"})


async def test_each_message_takes_the_logs_next_seq(parts: Parts) -> None:
    """Messages of every type share one numbering, the log's: each takes the next number, one apart."""
    start = parts.log.last_seq
    seqs = [
        parts.publisher.data("voltage", 28.5, T0_US).seq,
        parts.publisher.notification("info", "source_connected", "the source is connected").seq,
        parts.publisher.source_notification("info", "battery_swapped", "battery B in use").seq,
        parts.publisher.confirmation(command(), "accepted", "queued").seq,
        parts.publisher.data("voltage", 28.6, T0_US + 1).seq,
    ]
    assert seqs == [start + 1, start + 2, start + 3, start + 4, start + 5]
    assert parts.log.last_seq == start + 5
    assert parts.log.next_seq() == start + 6  # no number held back or handed out twice


async def test_a_message_is_logged_before_the_fanout_gets_it(parts: Parts) -> None:
    """When the fan-out is handed a message the log already holds it, so a client never sees a message that
    a resume could not replay."""
    publish_one_of_each(parts.publisher)
    assert parts.fanout.logged_at_hand_off == [(1, 1), (2, 2), (3, 3)]


async def test_clients_the_log_and_the_other_processes_get_the_same_records(parts: Parts) -> None:
    """What is delivered, what the log stores and what is forwarded are the same records, JSON text and
    all, in seq order."""
    publish_one_of_each(parts.publisher)
    delivered = await parts.delivered()
    await parts.log.flush()
    stored = await parts.log.backend.query(Query())
    assert [r.seq for r in stored] == [1, 2, 3]
    assert delivered == stored == parts.forwarded


async def test_a_record_carries_the_message_json_and_its_index_fields(parts: Parts) -> None:
    """A record holds the message's JSON without its empty fields, and its type, telemetry id and time for
    queries."""
    parts.publisher.data("voltage", 28.5, T0_US)
    parts.publisher.notification("info", "source_connected", "the source is connected", time_us=T0_US + 5)
    parts.publisher.confirmation(command(), "completed", "done")
    data, notification, confirmation = await parts.delivered()
    assert (data.type, data.id, data.time_us) == ("data", "voltage", T0_US)
    assert json.loads(data.payload) == {
        "type": "data", "id": "voltage", "value": 28.5, "timestamp": format_timestamp(T0_US), "seq": 1
    }  # fmt: skip
    assert (notification.type, notification.id, notification.time_us) == ("notification", None, T0_US + 5)
    assert json.loads(notification.payload) == {
        "type": "notification", "level": "info", "code": "source_connected",
        "message": "the source is connected",
        "timestamp": format_timestamp(T0_US + 5), "seq": 2,
    }  # fmt: skip
    assert (confirmation.type, confirmation.id) == ("confirmation", None)
    assert json.loads(confirmation.payload) | {"timestamp": "-"} == {
        "type": "confirmation", "command_id": "c0ffee", "command": "set_mode", "request_id": "r1",
        "status": "completed", "message": "done", "timestamp": "-", "seq": 3,
    }  # fmt: skip


async def test_a_notification_about_an_id_is_indexed_by_it(parts: Parts) -> None:
    """A notification about one telemetry id is stored under that id, so a history query by id finds it."""
    parts.publisher.notification("warning", "limit_warning", "voltage high", id="voltage")
    [record] = await parts.delivered()
    assert record.id == "voltage" and json.loads(record.payload)["id"] == "voltage"
    found = await parts.log.query(Query(ids=("voltage",)))
    assert [r.seq for r in found] == [record.seq]


async def test_counters_count_published_messages_by_type(parts: Parts) -> None:
    """`published` starts at zero for every type (so each is reported before its first message) and counts
    each message under its type."""
    assert parts.publisher.published == {"data": 0, "confirmation": 0, "notification": 0}
    publish_one_of_each(parts.publisher)
    parts.publisher.data("current", 1.5, T0_US + 2)
    assert parts.publisher.published == {"data": 2, "confirmation": 1, "notification": 1}


async def test_forwarding_follows_forward_to(parts: Parts) -> None:
    """Messages are forwarded only while a `forward` is set: none after `forward_to(None)`, and each one
    again after a new one is set, as a process stops and starts leading."""
    parts.publisher.data("voltage", 28.5, T0_US)
    parts.publisher.forward_to(None)
    parts.publisher.data("voltage", 28.6, T0_US + 1)
    again: list[Record] = []
    parts.publisher.forward_to(again.append)
    parts.publisher.data("voltage", 28.7, T0_US + 2)
    assert [r.seq for r in parts.forwarded] == [1] and [r.seq for r in again] == [3]
