"""The hub's state at one moment, as frozen models: `/health`'s body, and what `/metrics` adds to it.

The hub builds one `Snapshot` on request (`Hub.snapshot`); the web layer answers `/health` with its `health`
and the metrics read the rest at each scrape, so that nothing outside the core reads the core's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.history.log import LogStats
from hub.sources.base import DeviceChecks, Source
from hub.supervisor import SourceState, Supervisor

BACKLOG_DEGRADED = 10_000
"""Undelivered messages past which /health reports the hub as degraded (it cannot keep up)."""


def _absent(value: object) -> bool:
    return value is None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceRejections(_Frozen):
    """Device messages the source refused: in all, and by device and reason."""

    total: int
    by_device: dict[str, dict[str, int]]

    @classmethod
    def of(cls, by_device: Mapping[str, Mapping[str, int]]) -> DeviceRejections:
        """The counts a source reports (device -> reason -> count), copied, with their total."""
        copied = {device: dict(reasons) for device, reasons in by_device.items()}
        return cls(total=sum(sum(reasons.values()) for reasons in copied.values()), by_device=copied)


class SourceHealth(_Frozen):
    """The source's part of /health; in a process that does not lead, the source runs in another one."""

    name: str
    state: SourceState | Literal["in another process"]
    error: str | None
    rejected_device_messages: DeviceRejections | None = Field(default=None, exclude_if=_absent)
    """Only for a source that checks what its devices send (the MQTT source)."""

    @classmethod
    def of(cls, source: Source, supervisor: Supervisor, leading: bool) -> SourceHealth:
        """The source as `supervisor` runs it; in a process that does not lead, it runs in another one."""
        checks = source.rejected_device_messages() if isinstance(source, DeviceChecks) else None
        return cls(
            name=source.name,
            state=supervisor.state if leading else "in another process",
            error=supervisor.error if leading else None,
            rejected_device_messages=None if checks is None else DeviceRejections.of(checks),
        )


class ClusterHealth(_Frozen):
    """This process's part in a cluster of hub processes (absent for a hub on its own)."""

    role: Literal["leader", "follower"]
    process: str
    leader: str | None
    stream_gaps: int
    problem: str | None
    """Why the cluster makes this process degraded (the leader silent too long), if it does."""


class Health(_Frozen):
    """The body of `GET /health`: ok, or degraded with the reasons, and the figures behind them."""

    status: Literal["ok", "degraded"]
    reason: str | None
    uptime_s: float
    clients: int
    source: SourceHealth
    history: LogStats
    delivery_backlog: int
    pending_commands: int
    rejected_values: int
    slow_clients_disconnected: int
    cluster: ClusterHealth | None = Field(default=None, exclude_if=_absent)

    @classmethod
    def of(
        cls,
        *,
        uptime_s: float,
        clients: int,
        source: SourceHealth,
        history: LogStats,
        delivery_backlog: int,
        pending_commands: int,
        rejected_values: int,
        slow_clients_disconnected: int,
        cluster: ClusterHealth | None,
    ) -> Health:
        """The health these figures make: degraded, with the reasons, while the source does not run (in the
        process that runs it), the cluster has a problem, the log cannot be written, or delivery is behind."""
        problems = []
        if source.state not in ("running", "in another process"):
            problems.append(f"source {source.state}")
        if cluster is not None and cluster.problem:
            problems.append(cluster.problem)
        if history.error:
            problems.append(f"history cannot write: {history.error}")
        if delivery_backlog > BACKLOG_DEGRADED:
            problems.append(f"delivery is behind by {delivery_backlog} messages")
        return cls(
            status="degraded" if problems else "ok",
            reason="; ".join(problems) or None,
            uptime_s=uptime_s,
            clients=clients,
            source=source,
            history=history,
            delivery_backlog=delivery_backlog,
            pending_commands=pending_commands,
            rejected_values=rejected_values,
            slow_clients_disconnected=slow_clients_disconnected,
            cluster=cluster,
        )


class Snapshot(_Frozen):
    """Everything the hub reports, taken at once: `health`, and the counters only the metrics show."""

    health: Health
    leading: bool
    """True while this process runs the source and writes the log (always, for a hub on its own)."""
    subscriptions: dict[str, int]
    """Clients subscribed to each telemetry id."""
    published: dict[str, int]
    """Messages numbered and logged by this process, by type."""
    slow_client_messages_dropped: int
    history_write_errors: int

    def rejected_device_messages(self) -> dict[str, dict[str, int]]:
        """Device messages the source refused, device -> reason -> count (empty for a source that checks
        none)."""
        rejections = self.health.source.rejected_device_messages
        return {} if rejections is None else rejections.by_device
