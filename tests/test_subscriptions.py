"""Subscribing and unsubscribing over a real Socket.IO connection."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import RunningHub
from tests.support import eventually, is_


async def test_client_gets_exactly_the_ids_it_subscribed_to(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """Two clients with different subscriptions each receive only their own ids."""
    a, b = await running.client(), await running.client()
    assert await a.call("subscribe", {"ids": ["voltage", "counter"]}) == {
        "ok": True,
        "subscribed": ["counter", "voltage"],
    }
    assert (await b.call("subscribe", {"ids": ["current"]}))["subscribed"] == ["current"]
    for i in range(20):
        running.source.emit("voltage", 28.0 + i / 100, clock())
        running.source.emit("current", 1.5, clock())
        running.source.emit("counter", i, clock())
        running.source.emit("heater_on", True, clock())
    running.source.emit("mode", "safe", clock())  # a marker: everything before it has been delivered
    await a.call("subscribe", {"ids": ["mode"]})
    await b.call("subscribe", {"ids": ["mode"]})
    await a.wait_for(is_("data", id="mode"))
    await b.wait_for(is_("data", id="mode"))
    ids_a = [m["id"] for m in a.of("data")]
    ids_b = [m["id"] for m in b.of("data")]
    assert ids_a.count("voltage") == 20 and ids_a.count("counter") == 20
    assert set(ids_a) == {"voltage", "counter", "mode"}
    assert ids_b.count("current") == 20 and set(ids_b) == {"current", "mode"}
    seqs = [m["seq"] for m in a.received]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_latest_value_is_sent_on_subscribe_with_its_original_seq(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """A newly subscribed id gets its latest value at once, as a normal data event with the seq it had."""
    early = await running.client()
    await early.call("subscribe", {"ids": ["label"]})
    running.source.emit("label", "first", clock())
    running.source.emit("label", "second", clock())
    first, second = await early.wait_for(is_("data", id="label"), count=2)
    late = await running.client()
    await late.call("subscribe", {"ids": ["label", "counter"]})
    [latest] = await late.wait_for(is_("data", id="label"))
    assert latest == second and latest["seq"] > first["seq"]
    assert late.of("data", id="counter") == []  # never produced: nothing to send
    await late.call("subscribe", {"ids": ["label"]})  # already subscribed: not sent again
    running.source.emit("label", "third", clock())
    await late.wait_for(is_("data", value="third"))
    assert [m["value"] for m in late.of("data")] == ["second", "third"]


async def test_subscribe_by_group_and_all(running: RunningHub) -> None:
    """Groups expand to their ids; all subscribes to every type; combinations add up."""
    client = await running.client()
    ack = await client.call("subscribe", {"groups": ["power"], "ids": ["mode"]})
    assert ack["subscribed"] == ["current", "mode", "voltage"]
    ack = await client.call("subscribe", {"all": True})
    assert ack["subscribed"] == sorted(running.hub.catalog.types)


async def test_unknown_ids_change_nothing(running: RunningHub) -> None:
    """One unknown id or group refuses the whole request and lists every unknown name."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage"]})
    ack = await client.call("subscribe", {"ids": ["current", "nope", "zilch"], "groups": ["warp"]})
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_telemetry_type"
    assert ack["error"]["details"] == {"ids": ["nope", "zilch"], "groups": ["warp"]}
    assert (await client.call("subscribe", {"ids": []})) == {"ok": True, "subscribed": ["voltage"]}


async def test_unsubscribe_stops_delivery(running: RunningHub, clock: Callable[[], float]) -> None:
    """After unsubscribe the ack lists what was removed and what remains, and no more values arrive."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage", "current"]})
    ack = await client.call("unsubscribe", {"ids": ["voltage", "counter"]})
    assert ack == {"ok": True, "unsubscribed": ["voltage"], "subscribed": ["current"]}
    running.source.emit("voltage", 28.0, clock())
    running.source.emit("current", 1.0, clock())
    await client.wait_for(is_("data", id="current"))
    assert client.of("data", id="voltage") == []
    ack = await client.call("unsubscribe", {"all": True})
    assert ack == {"ok": True, "unsubscribed": ["current"], "subscribed": []}


async def test_rooms_follow_subscriptions(running: RunningHub) -> None:
    """Each subscribed id is a Socket.IO room telemetry:<id> holding exactly its subscribers."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["voltage", "mode"]})
    sid = client.sio.get_sid()
    sio = running.hub.transport.sio  # type: ignore[attr-defined]
    assert {r for r in sio.rooms(sid) if r.startswith("telemetry:")} == {
        "telemetry:voltage",
        "telemetry:mode",
    }
    await client.call("unsubscribe", {"ids": ["mode"]})
    assert {r for r in sio.rooms(sid) if r.startswith("telemetry:")} == {"telemetry:voltage"}
    await client.close()
    await eventually(lambda: sid not in running.hub.clients)
    assert running.hub.subscriptions.counts()["voltage"] == 0
