"""The hub's core: the `Hub` facade, which wires the core's parts, runs them, and answers what clients and
the other hub processes ask; no transport, web framework or metrics library in it.

Messages are made by the Publisher (which assigns `seq` and logs them) and delivered by the FanOut (one task,
in `seq` order). What the source reports is checked by the `SourceIntake`, clients' sessions and resumes are
in `sessions` and `replay`, commands in `command_lifecycle`; what /health and /metrics report is one frozen
`Snapshot` (hub/health.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from hub import tasks
from hub.catalog import Catalog, CatalogChange
from hub.command_lifecycle import CommandLifecycle
from hub.commands import validate
from hub.errors import SourceUnavailable
from hub.fanout import FanOut, Transport
from hub.health import Health, Snapshot, SourceHealth
from hub.history import HistoryLog, Record
from hub.history.retention import NO_RETENTION, Retention
from hub.history.retention import apply as retention_pass
from hub.intake import SourceIntake
from hub.messages import (
    CommandAck,
    CommandRequest,
    CommandStatus,
    HubNotificationCode,
    Level,
    SubscribeAck,
    SubscriptionRequest,
    UnsubscribeAck,
)
from hub.peers import Peers, Stream
from hub.publisher import Publisher
from hub.replay import Replay
from hub.sessions import Sessions
from hub.sources.base import Source
from hub.subscriptions import Subscriptions
from hub.supervisor import Supervisor
from hub.templates import Templates


class Hub:
    """The hub in this process: its parts, wired once, and their lifecycle (`running`, `leading`), over a
    `Transport` it knows only by that protocol, with `peers` when other hub processes share the work.

    `on_command_ended(status, seconds)` is told of every command's end; `shed_clients` yields each client
    the transport disconnected for falling behind, with how far (the hub tells the operators)."""

    def __init__(
        self,
        source: Source,
        history: HistoryLog,
        transport: Transport,
        max_replay: int = 10_000,
        max_replays: int = 4,
        on_command_ended: Callable[[CommandStatus, float], None] | None = None,
        shed_clients: AsyncIterable[tuple[str, int]] | None = None,
    ) -> None:
        self.source = source
        self.history = history
        self.transport = transport
        self.catalog = Catalog(source.templates)
        self.subscriptions = Subscriptions(self.catalog)
        self.fanout = FanOut(transport)
        self.publisher = Publisher(history, self.fanout)
        replay = Replay(history, self.fanout, transport, max_replay, max_replays)
        self.sessions = Sessions(self.subscriptions, self.fanout, transport, replay, self.notify)
        self.commands = CommandLifecycle(self.catalog, source, history, self.publisher, on_command_ended)
        self.intake = SourceIntake(
            self.catalog, history, self.fanout, self.publisher, self.commands, self._share_templates
        )
        self.supervisor = Supervisor(source, self.intake)
        self.started = time.time()
        self._shed_clients = shed_clients
        self.peers: Peers | None = None
        """The other hub processes, when there are any (given to `running`)."""

    @property
    def clients(self) -> set[str]:
        """The clients connected to this process."""
        return self.sessions.clients

    # --- lifecycle -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(
        self, retention: Retention = NO_RETENTION, peers: Peers | None = None
    ) -> AsyncIterator[Hub]:
        """Open the log, start the fan-out and lead: log writer, source, retention. With `peers` (other hub
        processes), lead only while chosen to, and follow the leader's stream otherwise."""
        self.peers = peers
        await self.history.open(write=peers is None)
        await self.intake.load_latest(self.catalog.types)
        self.fanout.start()
        sheds = self._shed_clients
        reporter = [] if sheds is None else [tasks.start(self.sessions.report_sheds(sheds), "slow clients")]
        try:
            async with self.leading(retention) if peers is None else peers.joined(retention):
                yield self
        finally:
            try:
                await tasks.stop(reporter)
                await self.intake.stop()
                await self.fanout.stop()
            finally:
                await self.history.close()

    @asynccontextmanager
    async def leading(
        self, retention: Retention, takeover: bool = False, stream: Stream | None = None
    ) -> AsyncIterator[None]:
        """Run what only one process may run: the log writer, the source and retention. On exit, commands
        still pending fail (nobody would report their end) and everything is stopped; the log is flushed
        by whoever called (closing it, or stepping down).

        `takeover`: another process led until now. This one writes what that one streamed and did not
        write, carries on its limit states and keeps tracking its pending commands. `stream`: the other
        processes follow this one; it gets every message and the log's written mark until the exit."""
        if takeover:
            await self.history.take_over()
            self.intake.carry_on_limits()
            await self.commands.carry_on()  # before the source starts and could report one of them
        writer = tasks.start(self.history.run(), "history writer")
        producers = [tasks.start(self.supervisor.run(), "source")]
        if retention != NO_RETENTION:
            producers.append(tasks.start(retention_pass(self.history, retention), "retention"))
        if stream is not None:
            self.publisher.forward_to(stream.record)
            self.history.report_written_to(stream.written)
        try:
            yield
        finally:
            await tasks.stop(producers)
            await self.commands.stop()
            await tasks.stop([writer])
            if stream is not None:
                self.publisher.forward_to(None)
                self.history.report_written_to(None)

    # --- the catalog, and the other processes -------------------------------------------------------------

    @property
    def templates(self) -> Templates:
        """The catalog's templates."""
        return self.catalog.templates

    def templates_changed(self, templates: Templates) -> None:
        """The source's templates changed: see `SourceIntake.templates_changed`."""
        self.intake.templates_changed(templates)

    def adopt(self, templates: Templates) -> CatalogChange:
        """Take `templates` as the catalog (the leading process's); return what changed."""
        return self.intake.adopt(templates)

    def _share_templates(self, templates: Templates) -> None:
        if self.peers is not None:
            self.peers.templates_changed(templates)

    def notify(
        self, level: Level, code: HubNotificationCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        """Publish one of the hub's own notifications; a process that does not lead has the leader do it."""
        if self.peers is not None and not self.peers.leading:
            self.peers.notification(level, code, message, details or {})
        else:
            self.publisher.notification(level, code, message, details=details)

    def follow(self, record: Record) -> None:
        """A message of the leading process's stream (another process): log it as received, deliver it."""
        self.history.follow(record)
        self.fanout.publish(record)

    # --- what clients ask ---------------------------------------------------------------------------------

    def connect(self, client: str, since: int | None = None) -> None:
        """A new client; with `since`, resuming (see `Sessions.connect`)."""
        self.sessions.connect(client, since)

    def disconnect(self, client: str) -> None:
        """A client has gone; forgotten at once, without waiting on the fan-out."""
        self.sessions.disconnect(client)

    async def subscribe(self, client: str, request: SubscriptionRequest) -> SubscribeAck:
        """Subscribe `client` to more ids: their latest values, or what it missed (with `since`)."""
        return await self.sessions.subscribe(client, request)

    async def unsubscribe(self, client: str, request: SubscriptionRequest) -> UnsubscribeAck:
        return await self.sessions.unsubscribe(client, request)

    async def send_command(self, request: CommandRequest) -> CommandAck:
        """Validate `request` and have it executed: here, or by the leading process when another one leads."""
        template, parameters = validate(request, self.catalog)
        if self.peers is not None and not self.peers.leading:
            return await self.peers.command(request)
        if self.supervisor.state != "running":
            raise SourceUnavailable(f"the source is {self.supervisor.state}; the command was not sent")
        return await self.commands.execute(template, parameters, request.request_id)

    # --- state --------------------------------------------------------------------------------------------

    @property
    def _leading(self) -> bool:
        return self.peers is None or self.peers.leading

    def health(self) -> Health:
        """The hub's state now, as /health answers it."""
        return Health.of(
            uptime_s=round(time.time() - self.started, 3),
            clients=len(self.clients),
            source=SourceHealth.of(self.source, self.supervisor, self._leading),
            history=self.history.stats(),
            delivery_backlog=self.fanout.backlog,
            pending_commands=len(self.commands),
            rejected_values=self.intake.rejected_values,
            slow_clients_disconnected=self.sessions.slow_clients_disconnected,
            cluster=None if self.peers is None else self.peers.health(),
        )

    def snapshot(self) -> Snapshot:
        """The hub's health and the counters the metrics add to it (per id subscriptions, ...), for a
        scrape: /health asks `health` only, so a probe does not count every id's subscribers."""
        return Snapshot(
            health=self.health(),
            leading=self._leading,
            subscriptions=self.subscriptions.counts(),
            published=dict(self.publisher.published),
            slow_client_messages_dropped=self.sessions.slow_client_messages_dropped,
            history_write_errors=self.history.write_errors,
        )
