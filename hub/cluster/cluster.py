"""Several hub processes as one hub, over Redis: the Peers the core talks to.

Exactly one process leads (holds the lease): it runs the source, numbers every message, writes the log and
publishes each message to the others (the stream). Every process, the leader included, serves its own
clients from its own fan-out: subscriptions, latest values and resumes work as in a single hub, reading the
shared PostgreSQL log. Commands a follower's clients send are validated there and run by the leader; its
confirmations come back through the stream like every other message.

If the leader dies, its lease expires and another process takes over: it writes what the old leader streamed
but had not written yet, continues numbering past every number the old one reserved, and keeps tracking the
commands it had accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub import codec, tasks
from hub.cluster.lease import RENEW_S, Lease
from hub.cluster.stream import HEARTBEAT_S, StreamFollower, StreamSender, catch_up
from hub.errors import ErrorCode, HubError, SourceUnavailable
from hub.history import Query, Record
from hub.messages import CommandAck, CommandRequest, Level
from hub.templates import Templates
from hub.transport.room_emitter import RedisRoomEmitter

if TYPE_CHECKING:
    from hub.core import Hub

log = logging.getLogger(__name__)

COMMAND_ANSWER_S = 5.0
"""How long a follower waits for the leader to accept or refuse a command it forwarded."""


class Cluster:
    def __init__(self, url: str, channel: str, manager: RedisRoomEmitter) -> None:
        self.manager = manager
        self.process = manager.host_id
        self._redis = Redis.from_url(url)
        self._templates_key = f"{channel}:templates"
        self._term_key = f"{channel}:term"
        self.lease = Lease(self._redis, f"{channel}:leader", self.process)
        self.leading = False
        self._hub: Hub | None = None
        self._sender: StreamSender | None = None
        self._follower: StreamFollower | None = None
        self._batches: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._call_ids = itertools.count(1)
        self._work: set[asyncio.Task[None]] = set()

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "the cluster is used before the hub joined it"
        return self._hub

    @asynccontextmanager
    async def joined(self, hub: Hub, retention_s: float | None) -> AsyncIterator[None]:
        self._hub = hub
        history = hub.history
        self._follower = StreamFollower(hub.follow, history.written, history.missed, lambda: history.last_seq)
        self._sender = StreamSender(self.manager.publish_to_peers, self.process, lambda: history.last_seq)
        self.manager.on_peer_message = self._received
        server = self.manager.server
        if not server.manager_initialized:  # python-socketio starts the listener with the first client
            server.manager_initialized = True
            self.manager.initialize()
        try:
            snapshot = await self._redis.get(self._templates_key)
        except RedisError as error:
            log.warning("cannot read the leader's templates from Redis (%s); using the source's", error)
            snapshot = None
        if snapshot is not None:
            hub.adopt(Templates.model_validate(codec.loads(snapshot)))
        follower = tasks.start(self._follow(), "stream of the leading process")
        contender = tasks.start(self._contend(retention_s), "leadership")
        try:
            yield
        finally:
            await tasks.stop([contender])  # a leader stops its source here
            try:
                if hub.history.writing:  # before the lease goes: the next leader must find it all written
                    await hub.history.flush()
            finally:
                await tasks.stop([follower, *self._work])
                await self.lease.release()
                await self._redis.aclose()

    async def _contend(self, retention_s: float | None) -> None:
        while True:
            await self.lease.acquire()
            try:
                await self._lead(retention_s)
            except Exception:  # a failed takeover or step-down must not end this process's candidacy
                log.exception("leading failed; giving the lease up and following")
                await self.lease.release()
            self.leading = False
            if self.hub.history.writing:
                try:
                    await self.hub.history.step_down()
                except Exception:
                    log.exception("writing the log while stepping down failed")
            if self._follower is not None:
                self._follower.heard = time.monotonic()  # silence is counted from now
            log.error("this process no longer leads; it follows the stream of the next leader")
            await asyncio.sleep(RENEW_S)

    async def _lead(self, retention_s: float | None) -> None:
        """One term: from the lease's acquisition to its loss. The lease is renewed from the start, so a slow
        takeover cannot let it expire unnoticed; the term ends as soon as a renewal fails."""
        term = await self._redis.incr(self._term_key)
        keeper = tasks.start(self.lease.keep(), "lease renewal")
        log.info("this process leads now (term %d): it runs the source and writes the log", term)
        while not self._batches.empty():  # the last of the old leader's stream, to write it
            self._take(self._batches.get_nowait())
        sender = self._sender
        assert sender is not None
        try:
            async with self.hub.leading(retention_s, takeover=True):
                self.leading = True
                sender.start(term)
                self.hub.publish.forward = sender.record
                self.hub.history.on_written = sender.written
                previous = None if self._follower is None else self._follower.leader
                self.hub.publish.notification(
                    "info" if previous is None else "warning",
                    "leader_changed",
                    f"hub process {self.process} runs the source now"
                    + ("" if previous is None else f", in place of {previous}"),
                    details={"process": self.process, "previous": previous},
                )
                try:
                    await asyncio.wait_for(self._share_templates(self.hub.catalog.templates), RENEW_S)
                except TimeoutError:  # followers keep their catalog; the next change is shared again
                    log.warning("sharing the templates with the other processes took over %g s", RENEW_S)
                await asyncio.shield(keeper)  # until a renewal fails
        finally:
            await tasks.stop([keeper])
            self.leading = False
            self.hub.publish.forward = None
            self.hub.history.on_written = lambda seq: None
            try:  # written first, then streamed: the next leader must find what it is told of in the log
                await self.hub.history.flush()
            finally:  # what the leader published while stopping (failed commands) goes out too, briefly
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sender.stop(), RENEW_S)

    # --- as the leader ----------------------------------------------------------------------------------

    def templates_changed(self, templates: Templates) -> None:
        self._start(self._share_templates(templates), "share templates")

    async def _share_templates(self, templates: Templates) -> None:
        text = codec.dumps(templates.model_dump(mode="json"))
        try:
            await self._redis.set(self._templates_key, text)
        except RedisError as error:
            log.warning("cannot store the templates in Redis: %s", error)
        await self.manager.publish_to_peers({"kind": "templates", "templates": text})

    async def _run_command(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"kind": "reply", "to": message["from"], "call": message["call"]}
        try:
            ack = await self.hub.command(CommandRequest.model_validate(message["request"]))
            reply["ack"] = ack.model_dump()
        except HubError as error:
            reply["error"] = {"code": error.code, "message": error.message, "details": error.details}
        except Exception:
            log.exception("running a command forwarded by %s failed", message["from"])
            reply["error"] = {"code": "internal_error", "message": "internal error; the hub logged it"}
        await self.manager.publish_to_peers(reply)

    # --- as a follower ----------------------------------------------------------------------------------

    async def command(self, request: CommandRequest) -> CommandAck:
        call = next(self._call_ids)
        answer = self._calls[call] = asyncio.get_running_loop().create_future()
        message = {"kind": "command", "from": self.process, "call": call, "request": request.model_dump()}
        try:
            await self.manager.publish_to_peers(message)
            async with asyncio.timeout(COMMAND_ANSWER_S):
                reply = await answer
        except TimeoutError:
            raise SourceUnavailable(
                f"the hub process that runs the source did not answer within {COMMAND_ANSWER_S:g} s (a "
                "takeover may be under way); if it accepted the command, its confirmations will say so"
            ) from None
        finally:
            self._calls.pop(call, None)
        if "ack" in reply:
            return CommandAck.model_validate(reply["ack"])
        raise _error(reply["error"])

    def notification(self, level: Level, code: str, message: str, details: dict[str, Any]) -> None:
        self._start(
            self.manager.publish_to_peers(
                {"kind": "notification", "level": level, "code": code, "message": message, "details": details}
            ),
            "forward a notification",
        )

    def _received(self, message: dict[str, Any]) -> None:
        """A message of another process (the manager's listener task calls this; it must not block)."""
        kind = message.get("kind")
        if kind == "stream":
            if not self.leading:
                self._batches.put_nowait(message)
        elif kind == "templates" and not self.leading:
            self.hub.adopt(Templates.model_validate(codec.loads(message["templates"])))
        elif kind == "reply" and message.get("to") == self.process:
            answer = self._calls.get(message["call"])
            if answer is not None and not answer.done():
                answer.set_result(message)
        elif kind == "command" and self.leading:
            self._start(self._run_command(message), "forwarded command")
        elif kind == "notification" and self.leading:
            self.hub.publish.notification(
                message["level"], message["code"], message["message"], details=message["details"]
            )

    async def _follow(self) -> None:
        """Follow the leader's stream: join it where it is, then take each batch as it comes."""
        assert self._follower is not None
        history = self.hub.history
        while True:
            try:
                missing, held = await catch_up(self._batches, lambda: history.last_seq, self._read)
                break
            except Exception:  # the log could not be read: try again with the next batches
                log.exception("catching up with the leader's stream failed; retrying")
                await asyncio.sleep(RENEW_S)
        for record in missing:
            if record.seq > history.last_seq:
                self.hub.follow(record)
        for batch in held:
            self._take(batch)
        while True:
            self._take(await self._batches.get())

    def _take(self, batch: dict[str, Any]) -> None:
        assert self._follower is not None
        if not self.leading and not self._follower.receive(batch):
            self._start(self._reconnect_clients(self._follower.missed_up_to), "reconnect after a gap")

    async def _read(self, after: int, up_to: int) -> list[Record]:
        records: list[Record] = []
        while True:
            page = await self.hub.history.query(Query(after_seq=after, before_seq=up_to + 1, limit=10_000))
            records += page
            if len(page) < 10_000:
                return records
            after = page[-1].seq

    async def _reconnect_clients(self, missed_up_to: int) -> None:
        """This process missed part of the stream, up to `missed_up_to`: its clients did too. Once the leader
        has written that far, closing their connections makes them reconnect and resume with `since` from
        the shared log, which then has what they missed."""
        with contextlib.suppress(TimeoutError):  # a leader gone meanwhile: the takeover writes it
            await asyncio.wait_for(self.hub.history.written_up_to(missed_up_to), 10 * HEARTBEAT_S)
        clients = list(self.manager.get_participants("/", None))
        log.warning(
            "closing the connections of %d clients so that they resume what they missed", len(clients)
        )
        for _, eio_sid in clients:
            await self.manager.server.eio.disconnect(eio_sid)

    def health(self) -> dict[str, Any]:
        follower = self._follower
        silent = 0.0 if self.leading or follower is None else follower.silent_for()
        problem = None
        if silent > 3 * HEARTBEAT_S:
            problem = f"nothing from a leading hub process for {silent:.0f} s"
        return {
            "role": "leader" if self.leading else "follower",
            "process": self.process,
            "leader": self.process if self.leading else (follower.leader if follower else None),
            "stream_gaps": 0 if follower is None else follower.gaps,
            "problem": problem,
        }

    def _start(self, work: Any, name: str) -> None:
        task = tasks.start(work, name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)


def _error(body: dict[str, Any]) -> HubError:
    """The leader's error, raised again in the follower with the same code."""
    error = HubError(body["message"], body.get("details"))
    code: ErrorCode = body["code"]
    error.code = code
    return error
