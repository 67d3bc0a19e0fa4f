"""Several hub processes as one hub, over a bus (Redis): the `Peers` the core talks to.

Exactly one process leads (holds the lease): it runs the source, numbers every message, writes the log and
publishes each message to the others (the stream). Every process, the leader included, serves its own
clients from its own fan-out: subscriptions, latest values and resumes work as in a single hub, reading the
shared PostgreSQL log. Commands a follower's clients send are validated there and run by the leader; its
confirmations come back through the stream like every other message.

If the leader dies, its lease expires and another process takes over: it writes what the old leader streamed
but had not written yet, continues numbering past every number the old one reserved, and keeps tracking the
commands it had accepted.

The parts: `leadership` (the lease and the terms), `following` (the stream as a follower sees it, with
`stream` for the batches themselves), `rpc` (calls between processes), over a `bus`; the hub and its log are
seen through the protocols of `member`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from hub import codec, tasks
from hub.cluster.bus import Bus, BusError
from hub.cluster.clock import SYSTEM_CLOCK, Clock
from hub.cluster.following import Following
from hub.cluster.leadership import Leadership
from hub.cluster.member import Member, SharedLog
from hub.cluster.rpc import COMMAND_ANSWER_S, Rpc
from hub.cluster.stream import HEARTBEAT_S
from hub.health import ClusterHealth
from hub.history.retention import Retention
from hub.messages import CommandAck, CommandRequest, HubNotificationCode, Level
from hub.templates import Templates

log = logging.getLogger(__name__)

TEMPLATES_KEY = "templates"


class Cluster:
    """This process among the others on `bus`: it follows the leader's stream, leads when chosen, and calls
    the leader for its clients' commands. `reconnect_clients` closes the connections of this process's
    clients (they resume from the log) after it missed part of the stream."""

    def __init__(
        self,
        bus: Bus,
        member: Member,
        log: SharedLog,
        reconnect_clients: Callable[[], Awaitable[object]],
        clock: Clock = SYSTEM_CLOCK,
        answer_within_s: float = COMMAND_ANSWER_S,
    ) -> None:
        self.bus = bus
        self.member = member
        self.log = log
        self.following = Following(member, log, reconnect_clients)
        self.leadership = Leadership(bus, member, log, self.following, self._share_templates, clock)
        self.rpc = Rpc(bus, member, answer_within_s)
        self._work: set[asyncio.Task[None]] = set()

    @property
    def process(self) -> str:
        return self.bus.process

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    @asynccontextmanager
    async def joined(self, retention: Retention) -> AsyncIterator[None]:
        await self.bus.open()
        try:
            snapshot = await self.bus.get(TEMPLATES_KEY)
        except BusError as error:
            log.warning("cannot read the leader's templates from the bus (%s); using the source's", error)
            snapshot = None
        if snapshot is not None:
            self.member.adopt(Templates.model_validate(codec.loads(snapshot)))
        listener = tasks.start(self._listen(), "messages of the other processes")
        follower = tasks.start(self.following.run(), "stream of the leading process")
        contender = tasks.start(self.leadership.contend(retention), "leadership")
        try:
            yield
        finally:
            await tasks.stop([contender])  # a leader stops its source here
            try:
                if self.log.writing:  # before the lease goes: the next leader must find it all written
                    await self.log.flush()
            finally:
                await tasks.stop([listener, follower, *self._work])
                await self.following.stop()
                await self.rpc.stop()
                await self.leadership.release()
                await self.bus.close()

    # --- Peers ------------------------------------------------------------------------------------------

    async def command(self, request: CommandRequest) -> CommandAck:
        return await self.rpc.command(request)

    def notification(
        self, level: Level, code: HubNotificationCode, message: str, details: dict[str, Any]
    ) -> None:
        self.rpc.notification(level, code, message, details)

    def templates_changed(self, templates: Templates) -> None:
        task = tasks.start(self._share_templates(templates), "share templates")
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def health(self) -> ClusterHealth:
        stream = self.following.stream
        silent = 0.0 if self.leading else stream.silent_for()
        problem = None
        if silent > 3 * HEARTBEAT_S:
            problem = f"nothing from a leading hub process for {silent:.0f} s"
        return ClusterHealth(
            role="leader" if self.leading else "follower",
            process=self.process,
            leader=self.process if self.leading else stream.leader,
            stream_gaps=stream.gaps,
            problem=problem,
        )

    # --- the other processes' messages ------------------------------------------------------------------

    async def _share_templates(self, templates: Templates) -> None:
        text = codec.dumps(templates.model_dump(mode="json"))
        try:
            await self.bus.set(TEMPLATES_KEY, text)
        except BusError as error:
            log.warning("cannot store the templates on the bus: %s", error)
        await self.bus.publish({"kind": "templates", "templates": text})

    async def _listen(self) -> None:
        async for message in self.bus.received():
            try:
                self._received(message)
            except Exception:  # one bad message must not stop the others
                log.exception("a message of another hub process could not be handled: %.200r", message)

    def _received(self, message: dict[str, Any]) -> None:
        """A message of another process (it must not block: the stream waits behind it)."""
        kind = message.get("kind")
        if kind == "stream":
            self.following.received(message)
        elif kind == "templates" and not self.leading:
            self.member.adopt(Templates.model_validate(codec.loads(message["templates"])))
        elif kind == "reply":
            self.rpc.replied(message)
        elif kind in ("command", "notification") and self.leading:
            self.rpc.answer(message)
