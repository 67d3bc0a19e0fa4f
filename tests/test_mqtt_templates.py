"""Templates that change while the hub runs (what the MQTT source reports as devices announce themselves):
the catalog, subscriptions, commands, limits and the HTTP API follow, and clients hear templates_changed."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from hub.app import create_app
from hub.catalog import Catalog
from hub.history import Record
from hub.history.base import Marks
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from hub.templates import Band, CommandTemplate, Limits, TelemetryType, Templates
from tests.conftest import RunningHub
from tests.fakes import FakeSource
from tests.support import Client, is_, serve

EMPTY = Templates(telemetry_types=(), command_templates=())
PRESSURE = TelemetryType(
    id="pressure", group="tank", unit="bar", datatype="float", rate_hz=1, limits=Limits(warning=Band(high=2))
)


def with_pressure(templates: Templates) -> Templates:
    """`templates` with the PRESSURE telemetry type added."""
    return templates.model_copy(update={"telemetry_types": (*templates.telemetry_types, PRESSURE)})


def test_replace_reports_what_changed() -> None:
    """Catalog.replace swaps the lookups in place and lists added, removed and redefined ids and commands."""
    catalog = Catalog(EMPTY)
    added = catalog.replace(
        Templates(telemetry_types=(PRESSURE,), command_templates=(CommandTemplate(command="vent"),))
    )
    assert added.details() == {"added_types": ["pressure"], "added_commands": ["vent"]}
    assert catalog.groups == {"tank": ("pressure",)} and "vent" in catalog.commands
    redefined = PRESSURE.model_copy(update={"unit": "kPa"})
    change = catalog.replace(Templates(telemetry_types=(redefined,), command_templates=()))
    assert change.details() == {"changed_types": ["pressure"], "removed_commands": ["vent"]}
    assert not catalog.replace(catalog.templates)


async def test_new_templates_reach_subscriptions_limits_http_and_clients(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """After templates_changed the new id can be subscribed to, its limits are checked, /telemetry-types lists
    it, and every client got one templates_changed notification saying what was added."""
    client = await running.client()
    running.hub.templates_changed(with_pressure(running.hub.catalog.templates))
    (changed,) = await client.wait_for(is_("notification", code="templates_changed"))
    assert changed["level"] == "info" and changed["details"] == {"added_types": ["pressure"]}
    async with httpx.AsyncClient(base_url=running.url) as http:
        types = (await http.get("/telemetry-types")).json()
    assert types[-1]["id"] == "pressure"
    assert (await client.call("subscribe", {"groups": ["tank"]}))["subscribed"] == ["pressure"]
    running.source.emit("pressure", 2.5, clock())
    await client.wait_for(is_("data", id="pressure", value=2.5))
    await client.wait_for(is_("notification", code="limit_warning", id="pressure"))
    running.hub.templates_changed(running.hub.catalog.templates)  # the same again: nothing to say
    running.source.notify("info", "marker", "after the repeat")
    await client.wait_for(is_("notification", code="marker"))
    assert len(client.of("notification", code="templates_changed")) == 1


async def test_a_withdrawn_command_still_times_out(running: RunningHub) -> None:
    """A pending command whose template is withdrawn meanwhile still ends in timeout."""
    client = await running.client()
    ack = await client.call("command", {"command": "slow"})
    await running.source.next_command()
    templates = running.hub.catalog.templates
    running.hub.templates_changed(
        templates.model_copy(
            update={"command_templates": tuple(c for c in templates.command_templates if c.command != "slow")}
        )
    )
    steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=2)
    assert steps[1]["status"] == "timeout" and steps[1]["message"] == "no result from the device"
    refused = await client.call("command", {"command": "slow"})
    assert refused["error"]["code"] == "unknown_command"


async def test_a_hub_starts_with_no_templates(clock: Callable[[], float]) -> None:
    """With an empty catalog (no device has announced yet) the hub serves: subscribing to all gives nothing,
    commands are unknown, the HTTP lists are empty and /health is ok; the first announcement fills them."""
    source = FakeSource(EMPTY)
    app = create_app(Settings(history_url="memory://"), source=source, history=MemoryHistory())
    async with serve(app) as url:
        await source.started.wait()
        client = await Client().connect(url)
        try:
            assert (await client.call("subscribe", {"all": True}))["subscribed"] == []
            refused = await client.call("command", {"command": "vent"})
            assert refused["error"]["code"] == "unknown_command" and refused["error"]["details"] == {
                "known": []
            }
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/telemetry-types")).json() == []
                assert (await http.get("/command-templates")).json() == []
                assert (await http.get("/health")).json()["status"] == "ok"
            app.hub.templates_changed(with_pressure(EMPTY))
            await client.wait_for(is_("notification", code="templates_changed"))
            assert (await client.call("subscribe", {"all": True}))["subscribed"] == ["pressure"]
            source.emit("pressure", 1.0, clock())
            await client.wait_for(is_("data", id="pressure", value=1.0))
        finally:
            await client.close()


async def test_subscribers_of_a_withdrawn_id_are_not_counted(running: RunningHub) -> None:
    """A client still subscribed to an id its device withdrew does not break the per-id subscriber counts."""
    client = await running.client()
    running.hub.templates_changed(with_pressure(running.hub.catalog.templates))
    await client.wait_for(is_("notification", code="templates_changed"))
    await client.call("subscribe", {"ids": ["pressure", "voltage"]})
    templates = running.hub.catalog.templates
    running.hub.templates_changed(
        templates.model_copy(
            update={"telemetry_types": tuple(t for t in templates.telemetry_types if t.id != "pressure")}
        )
    )
    await client.wait_for(is_("notification", code="templates_changed"), count=2)
    counts = running.hub.subscriptions.counts()
    assert "pressure" not in counts and counts["voltage"] == 1


async def test_a_newly_announced_id_offers_its_logged_latest_value() -> None:
    """After a restart the catalog starts empty; once a device announces an id again, a subscriber gets the
    value logged before the restart at once, as for ids known at start-up, instead of waiting for the next."""
    history = MemoryHistory()
    logged = '{"type":"data","id":"pressure","value":2.5,"timestamp":"2026-01-01T00:00:00.000000Z","seq":7}'
    await history.open()
    await history.write([Record(7, "data", "pressure", 1_767_225_600_000_000, logged)], Marks(7, 0))
    source = FakeSource(EMPTY)
    app = create_app(Settings(history_url="memory://"), source=source, history=history)
    async with serve(app) as url:
        await source.started.wait()
        client = await Client().connect(url)
        try:
            app.hub.templates_changed(with_pressure(EMPTY))
            await client.wait_for(is_("notification", code="templates_changed"))
            assert (await client.call("subscribe", {"ids": ["pressure"]}))["ok"] is True
            [latest] = await client.wait_for(is_("data", id="pressure"))
            assert latest["value"] == 2.5 and latest["seq"] == 7
        finally:
            await client.close()
