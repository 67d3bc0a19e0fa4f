"""GET /metrics: the Prometheus metrics of a real hub after real traffic, read with Prometheus's parser."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hub.app import create_app
from hub.auth import hash_token
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from tests.conftest import RunningHub
from tests.fakes import TEST_TEMPLATES, FakeSource, UnwritableHistory
from tests.support import Client, eventually, is_, serve, shed_a_stalled_client

Samples = dict[str, float]


async def scrape(url: str, token: str | None = None) -> Samples:
    """The samples of GET /metrics, keyed as in the text format: `name{label="value",...}`, labels sorted."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_metrics_show_clients_subscriptions_deliveries_commands_and_the_log(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """After subscriptions, telemetry and three commands (completed, timed out, refused), every metric says
    exactly what happened."""
    running.source.auto["set_mode"] = ("completed", "done")
    a, b = await running.client(), await running.client()
    for client in (a, b):
        await client.call("subscribe", {"ids": ["voltage"]})
    await a.call("subscribe", {"ids": ["current"]})
    for value in (28.0, 28.5, 29.0):  # nominal: no limit notification
        running.source.emit("voltage", value, clock())
    running.source.emit("current", 0.5, clock())
    completed = await a.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
    unknown = await a.call("command", {"command": "warp_drive"})
    assert unknown["error"]["code"] == "unknown_command"
    slow = await a.call("command", {"command": "slow"})  # the fake device never answers: timeout after 0.3 s
    for client in (a, b):
        await client.wait_for(is_("confirmation", command_id=completed["command_id"], status="completed"))
        await client.wait_for(is_("confirmation", command_id=slow["command_id"], status="timeout"))
    await a.wait_for(is_("data", id="current"))

    metrics = await scrape(running.url)

    assert metrics["hub_connected_clients"] == 2
    assert metrics['hub_subscriptions{id="voltage"}'] == 2
    assert metrics['hub_subscriptions{id="current"}'] == 1
    assert metrics['hub_subscriptions{id="counter"}'] == 0
    # one per recipient: 3 voltage values to 2 clients and 1 current value to 1; 5 confirmations to both
    assert metrics['hub_messages_sent_total{event="data"}'] == 3 * 2 + 1
    assert metrics['hub_messages_sent_total{event="confirmation"}'] == (3 + 2) * 2
    for event in ("data", "confirmation", "notification"):  # and exactly what the clients received
        received = len(a.of(event)) + len(b.of(event))
        assert metrics[f'hub_messages_sent_total{{event="{event}"}}'] == received, event
    assert metrics['hub_messages_published_total{type="data"}'] == 4
    assert metrics['hub_messages_published_total{type="confirmation"}'] == 5
    assert metrics['hub_commands_total{status="completed"}'] == 1
    assert metrics['hub_commands_total{status="timeout"}'] == 1
    assert metrics['hub_commands_total{status="failed"}'] == 0
    assert metrics['hub_commands_refused_total{code="unknown_command"}'] == 1
    assert metrics['hub_command_latency_seconds_count{status="completed"}'] == 1
    assert 0 < metrics['hub_command_latency_seconds_sum{status="completed"}'] < 5
    assert metrics['hub_command_latency_seconds_count{status="timeout"}'] == 1
    assert 0.29 <= metrics['hub_command_latency_seconds_sum{status="timeout"}'] < 5  # its timeout_s is 0.3
    assert metrics['hub_command_latency_seconds_bucket{le="0.25",status="timeout"}'] == 0
    assert metrics['hub_command_latency_seconds_bucket{le="+Inf",status="timeout"}'] == 1
    assert metrics["hub_commands_pending"] == 0
    assert (
        metrics["hub_history_write_seconds_count"] >= 2
    )  # each command's accepted was flushed before its ack
    assert metrics["hub_history_write_seconds_sum"] > 0
    assert metrics["hub_history_write_errors_total"] == 0
    assert metrics["hub_history_last_seq"] == running.hub.history.last_seq
    assert metrics['hub_source_state{source="fake",state="running"}'] == 1
    assert metrics['hub_source_state{source="fake",state="down"}'] == 0
    assert metrics["hub_leader"] == 1
    assert metrics['hub_messages_dropped_total{reason="slow_client"}'] == 0
    assert metrics['hub_messages_dropped_total{reason="rejected_value"}'] == 0
    assert metrics["process_resident_memory_bytes"] > 0


async def test_the_source_state_follows_the_supervisor(running: RunningHub) -> None:
    """A source that fails shows as down until it runs again."""
    client = await running.client()
    running.source.crash(OSError("the device went away"))
    await client.wait_for(is_("notification", code="source_disconnected"))
    metrics = await scrape(running.url)
    assert metrics['hub_source_state{source="fake",state="down"}'] == 1
    assert metrics['hub_source_state{source="fake",state="running"}'] == 0
    # restarted after the backoff, and up again once it has run for a second
    await client.wait_for(is_("notification", code="source_connected"), within=10)
    metrics = await scrape(running.url)
    assert metrics['hub_source_state{source="fake",state="running"}'] == 1


async def test_rejected_values_are_counted_as_dropped(
    running: RunningHub, clock: Callable[[], float]
) -> None:
    """Values of an unknown id or of the wrong type are counted as dropped, with reason rejected_value."""
    running.source.emit("no_such_sensor", 1.0, clock())
    running.source.emit("voltage", "not a number", clock())
    metrics = await scrape(running.url)
    assert metrics['hub_messages_dropped_total{reason="rejected_value"}'] == 2


async def test_a_shed_slow_client_is_counted_with_the_messages_dropped(
    source: FakeSource, clock: Callable[[], float]
) -> None:
    """A client disconnected past HUB_CLIENT_QUEUE_LIMIT counts once, and its whole queue as dropped."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", client_queue_limit=200)
    app = create_app(settings, source=source, history=MemoryHistory())
    async with serve(app) as url:
        await source.started.wait()
        healthy, notice, produced, stalled = await shed_a_stalled_client(url, source, clock)
        await healthy.wait_for(is_("data", id="label"), count=produced, within=30)
        await eventually(lambda: len(app.hub.clients) == 1)
        metrics = await scrape(url)
        assert metrics["hub_slow_clients_disconnected_total"] == 1
        assert (
            metrics['hub_messages_dropped_total{reason="slow_client"}'] == notice["details"]["backlog"] >= 200
        )
        assert metrics["hub_connected_clients"] == 1
        assert metrics['hub_subscriptions{id="label"}'] == 1
        await healthy.close()
        stalled.transport.abort()


async def test_history_write_errors_and_the_backlog_are_shown(source: FakeSource) -> None:
    """A log that cannot be written: errors counted, records kept pending, the command refused and failed."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://")
    app = create_app(settings, source=source, history=UnwritableHistory())
    async with serve(app) as url:
        await source.started.wait()
        client = await Client().connect(url)
        ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "safe"}})
        assert ack["error"]["code"] == "internal_error"
        await client.wait_for(is_("confirmation", status="failed"))
        metrics = await scrape(url)
        await client.close()
    assert metrics["hub_history_write_errors_total"] >= 1
    assert metrics["hub_history_backlog"] >= 3  # source_connected, accepted, failed: none written
    assert metrics["hub_history_write_seconds_count"] == 0
    assert metrics['hub_commands_total{status="failed"}'] == 1
    assert metrics['hub_commands_refused_total{code="internal_error"}'] == 1


async def test_metrics_need_a_viewer_token_when_tokens_are_configured(source: FakeSource) -> None:
    """/metrics names telemetry ids, so it is protected like /telemetry-types: Prometheus sends a token."""
    token = "prometheus-token-0123456789"
    settings = Settings(
        templates_dir=TEST_TEMPLATES, history_url="memory://", tokens=f"viewer:{hash_token(token)}"
    )
    async with serve(create_app(settings, source=source, history=MemoryHistory())) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/metrics")).status_code == 401
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 401
        metrics = await scrape(url, token)
    assert metrics["hub_connected_clients"] == 0


async def test_openmetrics_when_asked_for(running: RunningHub) -> None:
    """/metrics answers in the OpenMetrics format, ending in # EOF, to a client whose Accept asks for it."""
    async with httpx.AsyncClient(base_url=running.url) as http:
        response = await http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "hub_connected_clients 0" in response.text


def test_each_app_has_a_registry_of_its_own(source: FakeSource) -> None:
    """Two hubs in one process keep separate metrics (no global registry, no clash on registration)."""
    settings = Settings(templates_dir=TEST_TEMPLATES, history_url="memory://")
    first = create_app(settings, source=source, history=MemoryHistory())
    second = create_app(settings, source=FakeSource(), history=MemoryHistory())
    first.metrics.command_refused("forbidden")
    assert first.metrics.registry is not second.metrics.registry
    assert first.metrics.registry.get_sample_value("hub_commands_refused_total", {"code": "forbidden"}) == 1
    assert (
        second.metrics.registry.get_sample_value("hub_commands_refused_total", {"code": "forbidden"}) is None
    )


async def test_subscription_counts_follow_unsubscribes_and_disconnects(running: RunningHub) -> None:
    """Each id's subscriptions and the connected clients are counted down on unsubscribe and disconnect."""
    a, b = await running.client(), await running.client()
    await a.call("subscribe", {"groups": ["power"]})
    await b.call("subscribe", {"all": True})
    metrics = await scrape(running.url)
    assert (metrics['hub_subscriptions{id="voltage"}'], metrics['hub_subscriptions{id="mode"}']) == (2, 1)
    await a.call("unsubscribe", {"ids": ["voltage"]})
    await b.close()
    await eventually(lambda: len(running.hub.clients) == 1)
    metrics = await scrape(running.url)
    assert metrics['hub_subscriptions{id="voltage"}'] == 0
    assert metrics['hub_subscriptions{id="current"}'] == 1
    assert metrics['hub_subscriptions{id="mode"}'] == 0
    assert metrics["hub_connected_clients"] == 1
