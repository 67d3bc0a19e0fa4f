"""Prometheus metrics for `GET /metrics`, in a registry each hub owns (several hubs in one process, as in the
tests, never share one).

The hot paths stay as they were: the emit path adds its recipients to a plain counter once per message, not
once per recipient, and the publisher adds one per message; everything that is state (clients,
subscriptions, backlogs, the source's state) is read only when Prometheus scrapes, by `_StateCollector`,
from one frozen `Snapshot` the hub takes (hub/health.py) and the emitter's counter. Histograms are observed
once per command (`command_ended`, given to the hub) and once per log batch (`batch_written`, given to the
log), as the app factory wires them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from hub.health import Snapshot
from hub.history.log import Part
from hub.messages import TERMINAL_STATUSES
from hub.supervisor import SourceState
from hub.transport.refusals import RefusalKind

EVENTS = ("data", "confirmation", "notification")
M = TypeVar("M", CounterMetricFamily, GaugeMetricFamily)

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series (a process-wide switch)

COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds from acceptance to a terminal status: a device's answer, or the hub's timeout (10 s by default)."""

WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds to write one batch (every 0.1 s at most) to the log; past 0.1 s the writer falls behind."""


class Deliveries(Protocol):
    """What the emit path counts (hub/transport/room_emitter.py)."""

    @property
    def sent(self) -> Mapping[str, int]:
        """Messages put on clients' queues, by event: one per recipient."""
        ...


class HubMetrics:
    """The hub's metrics: counters and histograms fed as things happen, and the hub's state read at scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "hub_commands",
            "Commands that ended, by terminal status: completed, failed (by the device, refused by the "
            "source, or cut short by a shutdown), timeout (no result within the template's timeout_s).",
            ["status"],
            registry=self.registry,
        )
        self.command_latency = Histogram(
            "hub_command_latency_seconds",
            "Seconds from a command's acceptance to its terminal status, by that status.",
            ["status"],
            buckets=COMMAND_BUCKETS,
            registry=self.registry,
        )
        self.commands_refused = Counter(
            "hub_commands_refused",
            "Commands refused with an error ack before being sent, by error code (forbidden, rate_limited, "
            "unknown_command, invalid_parameters, source_unavailable, internal_error, ...).",
            ["code"],
            registry=self.registry,
        )
        self.client_refusals = Counter(
            "hub_client_refusals",
            "Events, packets and requests of clients the hub refused, by kind: bad_packet (undecodable), "
            "idle_session (never connected to the namespace), too_many_attachments, not_connected, "
            "rate_limited (past a connection's event budget, or the hub's), flooding (disconnected for it), "
            "command_refused, header_too_large, too_many_packets, too_many_handshakes.",
            ["kind"],
            registry=self.registry,
        )
        self.history_write = Histogram(
            "hub_history_write_seconds",
            "Seconds to write one batch of records to the history log (successful writes with records).",
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        for kind in get_args(RefusalKind):
            self.client_refusals.labels(kind)
        for status in sorted(TERMINAL_STATUSES):  # present (at 0) before the first command ends
            self.commands.labels(status)
            self.command_latency.labels(status)
        ProcessCollector(registry=self.registry)

    def command_ended(self, status: str, seconds: float) -> None:
        """A command ended in `status`, `seconds` after it was accepted."""
        self.commands.labels(status).inc()
        self.command_latency.labels(status).observe(seconds)

    def batch_written(self, seconds: float) -> None:
        """The log wrote one batch of records in `seconds`."""
        self.history_write.observe(seconds)

    def command_refused(self, code: str) -> None:
        self.commands_refused.labels(code).inc()

    def client_refused(self, kind: str) -> None:
        self.client_refusals.labels(kind).inc()

    def watch(self, snapshot: Callable[[], Snapshot], deliveries: Deliveries) -> None:
        """Report the hub's state (`snapshot()`, taken at each scrape) and the emitter's deliveries."""
        self.registry.register(_StateCollector(snapshot, deliveries))

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format the `Accept` header asks for (Prometheus text by default, or
        OpenMetrics), and its content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


class _StateCollector:
    """The hub's snapshot and the emitter's counter, turned into metrics when Prometheus scrapes."""

    def __init__(self, snapshot: Callable[[], Snapshot], deliveries: Deliveries) -> None:
        self.snapshot = snapshot
        self.deliveries = deliveries

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot()
        health = snapshot.health
        yield GaugeMetricFamily(
            "hub_connected_clients", "Socket.IO clients connected to this process.", value=health.clients
        )
        yield _labelled(
            GaugeMetricFamily(
                "hub_subscriptions", "Clients of this process subscribed to each telemetry id.", labels=["id"]
            ),
            sorted(snapshot.subscriptions.items()),
        )
        yield _labelled(
            CounterMetricFamily(
                "hub_messages_sent",
                "Messages delivered to clients of this process, one per recipient, by event; latest values "
                "sent on subscribe and replays included.",
                labels=["event"],
            ),
            ((event, self.deliveries.sent.get(event, 0)) for event in EVENTS),
        )
        yield _labelled(
            CounterMetricFamily(
                "hub_messages_published",
                "Messages this process numbered and logged, by type (with several processes, only the "
                "leader publishes).",
                labels=["type"],
            ),
            ((event, snapshot.published.get(event, 0)) for event in EVENTS),
        )
        rejected = snapshot.rejected_device_messages()
        yield _labelled(
            CounterMetricFamily(
                "hub_messages_dropped",
                "Messages thrown away, by reason: slow_client (queued for a client disconnected for falling "
                "behind; it can resume), rejected_value (telemetry the hub refused: unknown id, bad value, "
                "or the log cannot be written), rejected_device_message (refused by the source, see "
                "hub_device_messages_rejected).",
                labels=["reason"],
            ),
            [
                ("slow_client", snapshot.slow_client_messages_dropped),
                ("rejected_value", health.rejected_values),
                ("rejected_device_message", sum(sum(reasons.values()) for reasons in rejected.values())),
            ],
        )
        by_device = CounterMetricFamily(
            "hub_device_messages_rejected",
            "Device messages the source refused (MQTT: bad topic, payload or value, not announced, a "
            "timestamp not after the last one or too far ahead, ...), by device and reason; past 100 "
            "devices the others share the device (other devices).",
            labels=["device", "reason"],
        )
        for device, reasons in sorted(rejected.items()):
            for reason, count in sorted(reasons.items()):
                by_device.add_metric([device, reason], count)
        yield by_device
        yield CounterMetricFamily(
            "hub_slow_clients_disconnected",
            "Clients disconnected for holding more than HUB_CLIENT_QUEUE_LIMIT queued messages.",
            value=health.slow_clients_disconnected,
        )
        yield GaugeMetricFamily(
            "hub_commands_pending",
            "Commands accepted and not ended yet.",
            value=health.pending_commands,
        )
        yield GaugeMetricFamily(
            "hub_delivery_backlog",
            "Messages (and subscription changes) waiting for the fan-out to deliver them.",
            value=health.delivery_backlog,
        )
        yield GaugeMetricFamily(
            "hub_history_backlog",
            "Records in the history log's memory, not written yet (a follower: not yet reported written by "
            "the leader).",
            value=health.history.pending,
        )
        yield CounterMetricFamily(
            "hub_history_write_errors",
            "Failed writes to the history log (each is retried with its records).",
            value=snapshot.history_write_errors,
        )
        yield GaugeMetricFamily(
            "hub_history_last_seq",
            "The seq of the last message numbered or received.",
            health.history.last_seq,
        )
        yield from _log_parts(health.history.tiers)
        leading = snapshot.leading
        state = GaugeMetricFamily(
            "hub_source_state",
            "1 for the state the source is in (starting, running, down, stopped), 0 for the others; all 0 in "
            "a process that does not lead (another one runs the source).",
            labels=["source", "state"],
        )
        for name in get_args(SourceState):
            state.add_metric([health.source.name, name], int(leading and health.source.state == name))
        yield state
        yield GaugeMetricFamily(
            "hub_leader",
            "1 while this process runs the source and writes the log (always, for a hub on its own).",
            value=int(leading),
        )


def _log_parts(parts: Sequence[Part]) -> Iterator[GaugeMetricFamily]:
    """Rows, bytes and span of the raw log and of each rollup tier, as retention last measured them."""
    rows = GaugeMetricFamily("hub_history_rows", "Rows of the raw log and of each tier.", labels=["part"])
    size = GaugeMetricFamily(
        "hub_history_bytes",
        "Bytes on disk of the raw log and of each tier, indexes included.",
        labels=["part"],
    )
    oldest = GaugeMetricFamily(
        "hub_history_oldest_seconds", "Unix time of the oldest data each part holds.", labels=["part"]
    )
    newest = GaugeMetricFamily(
        "hub_history_newest_seconds", "Unix time of the newest data each part holds.", labels=["part"]
    )
    for part in parts:
        rows.add_metric([part.name], part.rows)
        if part.bytes is not None:
            size.add_metric([part.name], part.bytes)
        for family, moment in ((oldest, part.oldest), (newest, part.newest)):
            if moment is not None:
                family.add_metric([part.name], datetime.fromisoformat(moment).timestamp())
    yield from (rows, size, oldest, newest)


def _labelled(family: M, values: Iterable[tuple[str, float]]) -> M:
    """`family` with one sample per (label value, value)."""
    for label, value in values:
        family.add_metric([label], value)
    return family
