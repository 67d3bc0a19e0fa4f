"""Every datatype arrives with the JSON type its template names; bad source values are dropped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from hub.history import Query, retention
from hub.templates import Value
from tests.conftest import RunningHub
from tests.support import is_


async def test_values_have_their_template_types(running: RunningHub, clock: Callable[[], float]) -> None:
    """Values keep the JSON type of their datatype on the wire; an int for a float arrives as a float."""
    client = await running.client()
    await client.call("subscribe", {"all": True})
    produced: dict[str, Value] = {
        "voltage": 28,
        "counter": 7,
        "heater_on": False,
        "mode": "science",
        "label": "hello ✓",
    }
    for telemetry_id, value in produced.items():
        running.source.emit(telemetry_id, value, clock())
    received = {m["id"]: m["value"] for m in await client.wait_for(is_("data"), count=len(produced))}
    assert received == produced
    assert isinstance(received["voltage"], float) and type(received["counter"]) is int
    assert received["heater_on"] is False


async def test_timestamps_are_iso_utc_with_microseconds(running: RunningHub) -> None:
    """The timestamp is the production time, ISO 8601 UTC with Z."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["counter"]})
    running.source.emit("counter", 1, 1_800_000_000.123456)
    [message] = await client.wait_for(is_("data"))
    assert message["timestamp"] == "2027-01-15T08:00:00.123456Z"


async def test_values_of_the_wrong_type_are_dropped(running: RunningHub, clock: Callable[[], float]) -> None:
    """A source value that does not fit its datatype, or an unknown id, never reaches clients or the log."""
    client = await running.client()
    await client.call("subscribe", {"all": True})
    for telemetry_id, value in [
        ("counter", 1.5),
        ("counter", "3"),
        ("voltage", True),
        ("voltage", float("nan")),
        ("heater_on", 1),
        ("mode", "warp"),
        ("label", 5),
        ("unknown", 1),
    ]:
        running.source.emit(telemetry_id, value, clock())  # type: ignore[arg-type]
    running.source.emit("counter", 2, clock())
    [only] = await client.wait_for(is_("data"))
    assert only["value"] == 2 and len(client.of("data")) == 1
    assert running.hub.health().rejected_values == 8


async def test_retention_deletes_only_older_messages(running: RunningHub) -> None:
    """Retention removes messages older than the window and keeps the rest, seq untouched."""
    client = await running.client()
    await client.call("subscribe", {"ids": ["counter"]})
    now = time.time()
    running.source.emit("counter", 1, now - 7200)
    running.source.emit("counter", 2, now - 10)
    await client.wait_for(is_("data", id="counter"), count=2)
    assert await retention.expire(running.hub.history, retention.Retention(3600)) == 1
    kept = await running.hub.history.query(Query(ids=("counter",)))
    assert [json.loads(r.payload)["value"] for r in kept] == [2]
