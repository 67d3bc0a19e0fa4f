"""Client sessions: who is connected to this process, what each subscribes to, and what it gets on
subscribing: the latest value of each new id or, for a client that resumes, what it missed (hub/replay.py);
and the clients the transport disconnected for falling behind, counted and reported to the operators.

Subscription changes run inside the fan-out (`FanOut.serialized`), so that the latest value sent on subscribe
stays in order with live values; a replay runs outside it, between two such steps.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any

from hub.fanout import CatchUp, FanOut, Transport
from hub.messages import HubNotificationCode, Level, SubscribeAck, SubscriptionRequest, UnsubscribeAck
from hub.replay import Replay
from hub.subscriptions import Subscriptions


class Sessions:
    """The clients of this process and their subscriptions, kept in step with the transport's rooms.

    `notify(level, code, message, details)` publishes what the operators are told (a slow client shed)."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        fanout: FanOut,
        transport: Transport,
        replay: Replay,
        notify: Callable[[Level, HubNotificationCode, str, dict[str, Any]], None],
    ) -> None:
        self.subscriptions = subscriptions
        self.fanout = fanout
        self.transport = transport
        self.replay = replay
        self._notify = notify
        self.clients: set[str] = set()
        self.slow_clients_disconnected = 0
        self.slow_client_messages_dropped = 0

    def connect(self, client: str, since: int | None = None) -> None:
        """A new client. With `since` it is resuming: it gets no broadcasts until its first subscribe, which
        replays the broadcasts and data it missed after `since` and then lets live messages through."""
        self.clients.add(client)
        if since is not None:
            self.replay.hold(client, since)

    def disconnect(self, client: str) -> None:
        """Forget the client at once. Never waits on the fan-out: the transport may call this from inside a
        delivery (a client found dead while sending to it), and waiting there would wait on itself."""
        self.clients.discard(client)
        self.subscriptions.drop(client)
        self.replay.forget(client)

    async def subscribe(self, client: str, request: SubscriptionRequest) -> SubscribeAck:
        """Add ids to the client's subscriptions and send their latest values or, with `since` (or a resume
        given at connect), replay what it missed."""
        ids = self.subscriptions.resolve(request)
        if request.since is None and not self.replay.resuming(client):
            return await self.fanout.serialized(lambda: self._subscribe(client, ids))
        async with self.replay.turn(client):
            begun = await self.fanout.serialized(lambda: self._begin(client, ids, request.since))
            if isinstance(begun, SubscribeAck):
                return begun
            catch_up, since, new, broadcasts = begun
            try:
                replayed, reason = await self.replay.send(client, since, new, catch_up.mark, broadcasts)
            except BaseException:  # failed or cancelled: the client must not stay held, nor its catch-up kept
                self.fanout.caught_up(catch_up)
                raise
            return await self.fanout.serialized(lambda: self._finish(catch_up, new, replayed, reason))

    async def unsubscribe(self, client: str, request: SubscriptionRequest) -> UnsubscribeAck:
        """Remove ids from the client's subscriptions."""
        ids = self.subscriptions.resolve(request)

        async def apply() -> UnsubscribeAck:
            removed = self.subscriptions.remove(client, ids)
            if client in self.clients:
                await self.transport.leave(client, removed)
            return UnsubscribeAck(
                unsubscribed=sorted(removed), subscribed=sorted(self.subscriptions.of(client))
            )

        return await self.fanout.serialized(apply)

    async def report_sheds(self, sheds: AsyncIterable[tuple[str, int]]) -> None:
        """Report each client the transport disconnects for falling behind (`sheds`), until cancelled."""
        async for client, backlog in sheds:
            self.report_shed(client, backlog)

    def report_shed(self, client: str, backlog: int) -> None:
        """The transport disconnected `client` for falling `backlog` messages behind; tell the operators."""
        self.slow_clients_disconnected += 1
        self.slow_client_messages_dropped += backlog
        text = f"a client fell {backlog} messages behind and was disconnected; it can resume with since"
        self._notify("warning", "client_too_slow", text, {"client": client, "backlog": backlog})

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
        resuming = self.replay.resumed(client)
        since = since if since is not None else resuming
        if since is None or client not in self.clients:
            return await self._subscribe(client, ids)
        new = self.subscriptions.add(client, ids)
        await self.transport.join(client, new)
        subscribed = sorted(self.subscriptions.of(client))
        reason = self.replay.unrecoverable(since)
        if reason is not None:
            self.fanout.held.discard(client)
            await self._send_latest(client, new)
            return SubscribeAck(subscribed=subscribed, replayed=0, recovered=False, reason=reason)
        catch_up = self.fanout.catch_up(client, self.subscriptions.of(client), self.replay.max_replay)
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
            limit = self.replay.max_replay
            reason = f"more than {limit} messages arrived during the replay (HUB_MAX_REPLAY); reload"
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
