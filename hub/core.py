"""The hub's core: what the source reports, what clients ask, and the lifecycle; no transport in it.

Messages are made by the Publisher (which assigns `seq` and logs them) and delivered by the FanOut (one task,
in `seq` order). Subscription changes run inside the fan-out so the latest value sent on subscribe stays in
order with live values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, cast

from hub import codec, tasks
from hub.alarms import LimitMonitor
from hub.catalog import Catalog, CatalogChange
from hub.commands import CommandTracker, PendingCommand, new_command_id, validate
from hub.errors import HubError, SourceUnavailable
from hub.fanout import CatchUp, FanOut, Transport
from hub.history import HistoryLog, Query, Record
from hub.messages import (
    TERMINAL_STATUSES,
    CommandAck,
    CommandRequest,
    CommandStatus,
    Level,
    SubscribeAck,
    SubscriptionRequest,
    UnsubscribeAck,
    to_micros,
)
from hub.metrics import HubMetrics
from hub.publisher import Publisher
from hub.sources.base import DeviceChecks, Source, SourceCommand, SourceStatus
from hub.subscriptions import Subscriptions
from hub.supervisor import Supervisor
from hub.templates import Templates, Value

if TYPE_CHECKING:
    from hub.peers import Peers

log = logging.getLogger(__name__)

BACKLOG_DEGRADED = 10_000
"""Undelivered messages past which /health reports the hub as degraded (it cannot keep up)."""

REPLAY_SLICE = 200
"""Replayed messages sent between two turns of the event loop: 10,000 at once held it for about 50 ms."""


class Hub:
    def __init__(
        self,
        source: Source,
        history: HistoryLog,
        transport: Transport,
        max_replay: int = 10_000,
        max_replays: int = 4,
    ) -> None:
        self.source = source
        self.max_replay = max_replay
        self._replays = asyncio.Semaphore(max_replays)
        self._replay_turns: dict[str, asyncio.Lock] = {}
        self.history = history
        self.transport = transport
        self.catalog = Catalog(source.templates)
        self.subscriptions = Subscriptions(self.catalog)
        self.clients: set[str] = set()
        self.commands = CommandTracker()
        self.fanout = FanOut(transport)
        self.publish = Publisher(history, self.fanout)
        self.supervisor = Supervisor(source, self)
        self.started = time.time()
        self.rejected_values = 0
        self.slow_clients_disconnected = 0
        self.slow_client_messages_dropped = 0
        self.metrics = HubMetrics()
        self._limits = LimitMonitor(self.catalog.types)
        self._executions: set[asyncio.Task[None]] = set()
        self._warned: set[str] = set()
        self._resume_from: dict[str, int] = {}
        self.peers: Peers | None = None
        """The other hub processes, when there are any (set by `running`)."""

    # --- lifecycle -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(
        self, retention_s: float | None = None, peers: Peers | None = None
    ) -> AsyncIterator[Hub]:
        """Open the log, start the fan-out and lead: log writer, source, retention. With `peers` (other hub
        processes), lead only while chosen to, and follow the leader's stream otherwise."""
        self.peers = peers
        await self.history.open(write=peers is None)
        await self._load_latest(self.catalog.types)
        self.fanout.start()
        try:
            async with self.leading(retention_s) if peers is None else peers.joined(self, retention_s):
                yield self
        finally:
            try:
                await self.fanout.stop()
            finally:
                await self.history.close()

    @asynccontextmanager
    async def leading(self, retention_s: float | None, takeover: bool = False) -> AsyncIterator[None]:
        """Run what only one process may run: the log writer, the source and retention. On exit, commands
        still pending fail (nobody would report their end) and everything is stopped; the log is flushed
        by whoever called (closing it, or stepping down).

        `takeover`: another process led until now. This one writes what that one streamed and did not
        write, carries on its limit states and keeps tracking its pending commands."""
        if takeover:
            await self.history.take_over()
            await self._carry_on()
        writer = tasks.start(self.history.run(), "history writer")
        producers = [tasks.start(self.supervisor.run(), "source")]
        if retention_s is not None:
            producers.append(tasks.start(self._apply_retention(retention_s), "retention"))
        try:
            yield
        finally:
            await tasks.stop(producers)
            for pending in self.commands.pending():
                if self.commands.finish(pending.command_id, "hub"):
                    self._end(pending, "failed", "the hub shut down before the device confirmed")
            await tasks.stop(self._executions)
            await tasks.stop([writer])

    async def _carry_on(self) -> None:
        """Take over from the previous leader what it kept in memory and the log can tell: each limit's
        state (from the latest values, so a value out of limits is not reported again) and the commands
        it had accepted and not seen end (tracked again for the rest of their timeout), before the source
        starts and could report one of them."""
        for telemetry_id, (_, text) in self.fanout.latest.items():
            self._limits.check(telemetry_id, codec.loads(text).get("value"))
        await self._adopt_commands()

    async def _adopt_commands(self) -> None:
        longest = max((c.timeout_s for c in self.catalog.commands.values()), default=0.0)
        now_us = to_micros(time.time())
        window = Query(types=("confirmation",), start_us=now_us - to_micros(longest + 1), limit=100_000)
        steps: dict[str, dict[str, Any]] = {}
        for record in await self.history.query(window):
            step = codec.loads(record.payload)
            if step["status"] == "accepted":
                steps[step["command_id"]] = step | {"time_us": record.time_us}
            elif step["status"] in TERMINAL_STATUSES:
                steps.pop(step["command_id"], None)
        for step in steps.values():
            accepted_at = time.monotonic() - (now_us - step["time_us"]) / 1e6
            pending = PendingCommand(
                step["command_id"], step["command"], step.get("request_id"), accepted_at=accepted_at
            )
            if self.commands.get(pending.command_id) is not None:
                continue
            template = self.catalog.commands.get(pending.command)
            timeout_s = 0.0 if template is None else template.timeout_s
            left = timeout_s - (now_us - step["time_us"]) / 1e6
            log.info("tracking %s %s, accepted by the previous leader", pending.command, pending.command_id)
            self.commands.start(pending, max(left, 0.0), self._timed_out)

    async def _load_latest(self, ids: Iterable[str]) -> None:
        """Take the logged latest value of each of `ids` that has no newer live one yet."""
        records = await self.history.latest(list(ids))

        async def store() -> None:
            latest = self.fanout.latest
            for record in records:
                key = record.id or ""
                if key not in latest or latest[key][0] < record.seq:
                    latest[key] = (record.seq, record.payload)

        await self.fanout.serialized(store)

    async def expire(self, retention_s: float) -> int:
        """Delete logged messages older than `retention_s`; return how many."""
        return await self.history.delete(to_micros(time.time() - retention_s))

    async def _apply_retention(self, retention_s: float) -> None:
        while True:
            try:
                deleted = await self.expire(retention_s)
            except Exception:
                log.exception("retention: deleting old messages failed; trying again later")
            else:
                if deleted:
                    log.info("retention: deleted %d messages older than %g s", deleted, retention_s)
            await asyncio.sleep(min(retention_s, 60))

    # --- SourceEvents: what the source reports ------------------------------------------------------------

    def telemetry(self, id: str, value: Value, timestamp: float) -> None:
        telemetry_type = self.catalog.types.get(id)
        if telemetry_type is None:
            self._reject(id, f"the source produced unknown telemetry type {id!r}")
            return
        try:
            checked = telemetry_type.coerce(value)
        except ValueError as error:
            self._reject(id, f"the source produced a bad value for {id}: {error}")
            return
        if not self.history.accepting:
            self._reject("history", "the history log cannot be written: telemetry is dropped until it can")
            return
        time_us = to_micros(timestamp)
        self.publish.data(id, checked, time_us)
        transition = self._limits.check(id, checked)
        if transition is not None:
            details = {"state": transition.state, "previous": transition.previous, "value": transition.value}
            self.publish.notification(
                transition.level, transition.code, transition.message, id=id, details=details, time_us=time_us
            )

    def notification(self, level: Level, code: str, message: str, id: str | None = None) -> None:
        self.publish.notification(level, code, str(message), id=id)

    def templates_changed(self, templates: Templates) -> None:
        """The source's templates changed (a device announced itself): the catalog, and with it
        subscriptions, command validation and the HTTP API, follow at once; limits are checked against the
        new types (an id whose limits did not change keeps its state, so it is not reported again); clients
        get a `templates_changed` notification saying what changed, so that they fetch the templates again."""
        change = self.adopt(templates)
        if not change:
            return
        if self.peers is not None:
            self.peers.templates_changed(templates)
        counts = f"{len(self.catalog.types)} telemetry types and {len(self.catalog.commands)} commands"
        self.publish.notification(
            "info", "templates_changed", f"the source now offers {counts}", details=change.details()
        )

    def adopt(self, templates: Templates) -> CatalogChange:
        """Take `templates` as the catalog (the source's, or the leading process's); return what changed."""
        change = self.catalog.replace(templates)
        if not change:
            return change
        self._limits = self._limits.updated(self.catalog.types)
        if change.added_types:  # what they last said before a restart, for the next subscribe
            loading = tasks.start(self._load_latest(change.added_types), "latest values of new types")
            self._executions.add(loading)
            loading.add_done_callback(self._executions.discard)
        return change

    def follow(self, record: Record) -> None:
        """A message of the leading process's stream (another process): log it as received, deliver it."""
        self.history.follow(record)
        self.fanout.publish(record)

    def _reject(self, key: str, reason: str) -> None:
        self.rejected_values += 1
        if key not in self._warned and len(self._warned) < 1000:  # a broken sensor must not flood the log
            self._warned.add(key)
            log.warning("%s (further ones are counted, not logged)", reason)

    def confirmation(self, command_id: str, status: str, message: str) -> None:
        if status not in ("executing", "completed", "failed"):
            log.warning("the source reported status %r for %s; ignored", status, command_id)
            return
        pending = self.commands.get(command_id)
        if pending is None:
            self._confirmation_after_end(command_id, status, str(message))
            return
        if status in TERMINAL_STATUSES:
            self._end(pending, cast(SourceStatus, status), str(message))
            self.commands.finish(command_id, "source")
        else:
            self.publish.confirmation(pending, cast(SourceStatus, status), str(message))

    def _confirmation_after_end(self, command_id: str, status: str, message: str) -> None:
        ended = self.commands.ended(command_id)
        details: dict[str, Any] = {"command_id": command_id, "status": status, "message": message}
        if ended is not None and ended.ended_by == "timeout":
            details |= {"command": ended.command, "request_id": ended.request_id}
            text = f"{ended.command} reported {status} after the hub timed it out: {message}"
            self.publish.notification("warning", "late_confirmation", text, details=details)
        else:
            text = f"the source reported {status} for a command that is not pending: {message}"
            self.publish.notification("warning", "unexpected_confirmation", text, details=details)

    # --- client requests ---------------------------------------------------------------------------------

    def connect(self, client: str, since: int | None = None) -> None:
        """A new client. With `since` it is resuming: it gets no broadcasts until its first subscribe, which
        replays the broadcasts and data it missed after `since` and then lets live messages through."""
        self.clients.add(client)
        if since is not None:
            self._resume_from[client] = since
            self.fanout.held.add(client)

    def disconnect(self, client: str) -> None:
        """Forget the client at once. Never waits on the fan-out: the transport may call this from inside a
        delivery (a client found dead while sending to it), and waiting there would wait on itself."""
        self.clients.discard(client)
        self.subscriptions.drop(client)
        self.fanout.held.discard(client)
        self._resume_from.pop(client, None)
        self._replay_turns.pop(client, None)

    def shed(self, client: str, backlog: int) -> None:
        """The transport disconnected `client` for falling `backlog` messages behind; tell the operators."""
        self.slow_clients_disconnected += 1
        self.slow_client_messages_dropped += backlog
        text = f"a client fell {backlog} messages behind and was disconnected; it can resume with since"
        details = {"client": client, "backlog": backlog}
        if self.peers is not None and not self.peers.leading:
            self.peers.notification("warning", "client_too_slow", text, details)
        else:
            self.publish.notification("warning", "client_too_slow", text, details=details)

    async def subscribe(self, client: str, request: SubscriptionRequest) -> SubscribeAck:
        """Add ids to the client's subscriptions and send their latest values or, with `since` (or a resume
        given at connect), replay what it missed. Replays run one at a time per client and at most
        `max_replays` at once in the hub, outside the fan-out (see hub/fanout.py)."""
        ids = self.subscriptions.resolve(request)
        if request.since is None and client not in self._resume_from:  # (set at connect only)
            return await self.fanout.serialized(lambda: self._subscribe(client, ids))
        async with self._replay_turn(client), self._replays:
            begun = await self.fanout.serialized(lambda: self._begin(client, ids, request.since))
            if isinstance(begun, SubscribeAck):
                return begun
            catch_up, since, new, broadcasts = begun
            try:
                replayed, reason = await self._replay(client, since, new, catch_up.mark, broadcasts)
            except Exception:  # the client must not stay held
                log.exception("replaying to %s failed", client)
                replayed, reason = 0, "the log could not be read for the replay; reload from /historical-data"
            return await self.fanout.serialized(lambda: self._finish(catch_up, new, replayed, reason))

    async def _subscribe(self, client: str, ids: set[str]) -> SubscribeAck:
        """In the fan-out: subscribe and send the latest values of the ids that are new."""
        if client not in self.clients:
            return SubscribeAck(subscribed=[])
        new = self.subscriptions.add(client, ids)
        await self.transport.join(client, new)
        await self._send_latest(client, new)
        return SubscribeAck(subscribed=sorted(self.subscriptions.of(client)))

    async def _begin(
        self, client: str, ids: set[str], since: int | None
    ) -> SubscribeAck | tuple[CatchUp, int, set[str], bool]:
        """In the fan-out: subscribe, and either refuse to replay (saying why) or hold the client for a
        replay (or, with no `since` after all, subscribe plainly)."""
        resuming = self._resume_from.pop(client, None)
        since = since if since is not None else resuming
        if since is None or client not in self.clients:
            return await self._subscribe(client, ids)
        new = self.subscriptions.add(client, ids)
        await self.transport.join(client, new)
        subscribed = sorted(self.subscriptions.of(client))
        reason = self._unrecoverable(since)
        if reason is not None:
            self.fanout.held.discard(client)
            await self._send_latest(client, new)
            return SubscribeAck(subscribed=subscribed, replayed=0, recovered=False, reason=reason)
        catch_up = self.fanout.catch_up(client, self.subscriptions.of(client), self.max_replay)
        return catch_up, since, new, resuming is not None

    async def _finish(
        self, catch_up: CatchUp, new: set[str], replayed: int, reason: str | None
    ) -> SubscribeAck:
        """In the fan-out: send what arrived during the replay and let live messages through again."""
        client = catch_up.client
        self.fanout.caught_up(catch_up)
        if client not in self.clients:
            return SubscribeAck(subscribed=[])
        if catch_up.overflowed:
            reason = (
                f"more than {self.max_replay} messages arrived during the replay (HUB_MAX_REPLAY); reload"
            )
            await self._send_latest(client, self.subscriptions.of(client))
        else:
            latest = await self._send_latest(client, new) if reason is not None else {}
            for record in catch_up.missed:
                if record.type != "data" or record.seq > latest.get(record.id or "", 0):
                    await self.transport.send(client, record.type, record.payload)
        return SubscribeAck(
            subscribed=sorted(self.subscriptions.of(client)),
            replayed=replayed,
            recovered=reason is None,
            reason=reason,
        )

    async def _send_latest(self, client: str, ids: set[str]) -> dict[str, int]:
        """Send the latest value of each of `ids` that has one; return their seqs by id."""
        latest = self.fanout.latest
        sent = {i: latest[i][0] for i in ids if i in latest}
        for _, text in sorted(latest[i] for i in sent):
            await self.transport.send(client, "data", text)
        return sent

    def _unrecoverable(self, since: int) -> str | None:
        """Why the log cannot fill the gap after `since`, if it cannot."""
        if since > self.history.last_seq:
            return f"since {since} is ahead of this hub's log (last seq {self.history.last_seq}); reload"
        if since < self.history.unrecoverable_seq:
            return (
                f"messages up to seq {self.history.unrecoverable_seq} are no longer in the log (cleared, or "
                "lost in a crash); reload from /historical-data"
            )
        return None

    async def _replay(
        self, client: str, since: int, ids: set[str], until: int, broadcasts: bool
    ) -> tuple[int, str | None]:
        """Send `client`, in seq order, what it missed after `since` up to `until` (what the fan-out had
        delivered when the client was held): data of `ids` and, when `broadcasts`, confirmations and
        notifications. Returns how many were replayed, or a reason why the gap cannot be filled."""
        window = Query(after_seq=since, before_seq=until + 1, limit=self.max_replay + 1)
        records = []
        if ids:
            records += await self.history.query(replace(window, ids=tuple(ids), types=("data",)))
        if broadcasts:
            records += await self.history.query(replace(window, types=("confirmation", "notification")))
        if len(records) > self.max_replay:
            return 0, f"more than {self.max_replay} messages were missed (HUB_MAX_REPLAY); reload"
        for count, record in enumerate(sorted(records, key=lambda r: r.seq), 1):
            await self.transport.send(client, record.type, record.payload)
            if count % REPLAY_SLICE == 0:
                await asyncio.sleep(0)  # let live delivery run between slices
        return len(records), None

    def _replay_turn(self, client: str) -> asyncio.Lock:
        """One replay at a time per client (the others of the same client wait, in order); forgotten when
        the client disconnects."""
        return self._replay_turns.setdefault(client, asyncio.Lock())

    async def unsubscribe(self, client: str, request: SubscriptionRequest) -> UnsubscribeAck:
        ids = self.subscriptions.resolve(request)

        async def apply() -> UnsubscribeAck:
            removed = self.subscriptions.remove(client, ids)
            if client in self.clients:
                await self.transport.leave(client, removed)
            return UnsubscribeAck(
                unsubscribed=sorted(removed), subscribed=sorted(self.subscriptions.of(client))
            )

        return await self.fanout.serialized(apply)

    async def command(self, request: CommandRequest) -> CommandAck:
        """Validate, log (durably, before the ack), confirm `accepted` to all, and hand to the source."""
        template, parameters = validate(request, self.catalog)
        if self.peers is not None and not self.peers.leading:
            return await self.peers.command(request)
        if self.supervisor.state != "running":
            raise SourceUnavailable(f"the source is {self.supervisor.state}; the command was not sent")
        pending = PendingCommand(new_command_id(), template.command, request.request_id)
        accepted = self.publish.confirmation(pending, "accepted", f"{template.command} accepted", parameters)
        self.commands.start(pending, template.timeout_s, self._timed_out)
        try:
            await self.history.flush()
        except Exception as error:
            if self.commands.finish(pending.command_id, "hub"):
                self._end(pending, "failed", "not sent: the history log could not be written")
            raise HubError("the command could not be written to the history log; it was not sent") from error
        execution = tasks.start(
            self._execute(SourceCommand(pending.command_id, template.command, parameters)), "command"
        )
        self._executions.add(execution)
        execution.add_done_callback(self._executions.discard)
        return CommandAck(command_id=pending.command_id, request_id=request.request_id, seq=accepted.seq)

    async def _execute(self, command: SourceCommand) -> None:
        try:
            await self.source.execute(command)
        except Exception as error:
            log.warning("the source refused %s: %s", command.command, error)
            pending = self.commands.get(command.command_id)
            if pending is not None:
                self._end(pending, "failed", f"the source refused it: {error}")
                self.commands.finish(command.command_id, "source")

    def _timed_out(self, pending: PendingCommand) -> None:
        template = self.catalog.commands.get(pending.command)  # its device may have withdrawn it since
        within = "" if template is None else f" within {template.timeout_s:g} s"
        self._end(pending, "timeout", f"no result from the device{within}")

    def _end(self, pending: PendingCommand, status: CommandStatus, message: str) -> None:
        """Publish a command's terminal confirmation; count it and log it with its latency."""
        self.publish.confirmation(pending, status, message)
        seconds = time.monotonic() - pending.accepted_at
        self.metrics.command_ended(status, seconds)
        log.info(
            "command %s %s %s after %.3f s: %r", pending.command, pending.command_id, status, seconds, message
        )

    # --- state --------------------------------------------------------------------------------------------

    def rejected_device_messages(self) -> dict[str, dict[str, int]] | None:
        """What the source refused of its devices' messages, device -> reason -> count; None for a source
        that does not check what devices send."""
        if not isinstance(self.source, DeviceChecks):
            return None
        return {device: dict(reasons) for device, reasons in self.source.rejected_device_messages().items()}

    def health(self) -> dict[str, Any]:
        history = self.history.stats()
        problems = []
        following = self.peers is not None and not self.peers.leading
        cluster = None if self.peers is None else self.peers.health()
        if not following and self.supervisor.state != "running":
            problems.append(f"source {self.supervisor.state}")
        if cluster is not None and cluster["problem"]:
            problems.append(cluster["problem"])
        if history["error"]:
            problems.append(f"history cannot write: {history['error']}")
        if self.fanout.backlog > BACKLOG_DEGRADED:
            problems.append(f"delivery is behind by {self.fanout.backlog} messages")
        status: Literal["ok", "degraded"] = "degraded" if problems else "ok"
        return {
            "status": status,
            "reason": "; ".join(problems) or None,
            "uptime_s": round(time.time() - self.started, 3),
            "clients": len(self.clients),
            "source": {
                "name": self.source.name,
                "state": "in another process" if following else self.supervisor.state,
                "error": None if following else self.supervisor.error,
            }
            | _rejections(self.rejected_device_messages()),
            "history": history,
            "delivery_backlog": self.fanout.backlog,
            "pending_commands": len(self.commands),
            "rejected_values": self.rejected_values,
            "slow_clients_disconnected": self.slow_clients_disconnected,
        } | ({} if cluster is None else {"cluster": cluster})


def _rejections(by_device: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """The source's part of /health about refused device messages (nothing for a source that checks none)."""
    if by_device is None:
        return {}
    total = sum(count for reasons in by_device.values() for count in reasons.values())
    return {"rejected_device_messages": {"total": total, "by_device": by_device}}
