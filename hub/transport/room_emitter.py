"""The fast emit path: an already-encoded message to every member of a room, with a bound per client.

python-socketio's `AsyncManager.emit` encodes the message (scanning it for binary parts first), then starts
one asyncio task per recipient and waits for them all. For a telemetry stream that is the whole cost: the
stock path delivered about 45k messages/s to 10 clients on this project's 2-core test machine. Here each
message is JSON-encoded once, when it enters the log (the same text is stored and streamed), wrapped into
its Socket.IO and Engine.IO packets by string concatenation and into its websocket frame (`PreparedText`),
all once, and put on each recipient's Engine.IO queue in a plain loop: no task, no second encoding, no await
that can yield.

This depends on internals of python-socketio/python-engineio, pinned in requirements.txt and checked by
tests/test_transport_internals.py and tests/test_room_emitter.py: the text form of a Socket.IO EVENT packet
on the default namespace, the Engine.IO
packet's `encode_cache`, the Engine.IO socket's `queue` and `closed`, and the manager's `rooms` (only their
sizes, to count recipients once per message). Two more are kept here so that no other module touches them:
closing every client's Engine.IO connection (`close_connections`), and the server's `manager_initialized`,
which starts the Redis listener before the first client (`RedisRoomEmitter.listen`). Everything else goes
through the library as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from typing import Any

import socketio
from engineio import packet as eio_packet

from hub.messages import MESSAGE_TYPES
from hub.transport.websocket_protocol import PreparedText

log = logging.getLogger(__name__)

_NO_ROOMS: dict[str | None, Any] = {}


def event_frame(event: str, text: str) -> str:
    """The Socket.IO EVENT packet for the default namespace carrying one JSON argument, already encoded."""
    return f'2["{event}",{text}]'


def engineio_message(data: str) -> eio_packet.Packet:
    """An Engine.IO MESSAGE packet carrying `data`, encoded and framed once for all its recipients."""
    packet = eio_packet.Packet(eio_packet.MESSAGE, data)
    packet.encode_cache = PreparedText(f"{eio_packet.MESSAGE}{data}")
    return packet


class RoomEmitter(socketio.AsyncManager):  # type: ignore[misc]  # python-socketio has no type information
    """python-socketio's client manager, plus `send_text` and a bound on each client's send queue.

    A client whose Engine.IO queue holds more than `queue_limit` packets cannot keep up (a frozen tab, a dead
    network): it is disconnected, its queue dropped, and the hub told through `shed_clients`. It loses nothing
    it cannot get back: reconnecting with `auth.since` replays what it missed."""

    def __init__(self, queue_limit: int, **options: Any) -> None:
        super().__init__(**options)
        self.queue_limit = queue_limit
        self._sheds: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.sent: dict[str, int] = dict.fromkeys(MESSAGE_TYPES, 0)
        """Messages put on clients' queues, by event: one per recipient (for the metrics)."""

    async def shed_clients(self) -> AsyncIterator[tuple[str, int]]:
        """Each client disconnected for not keeping up, with how many messages it was behind, as it happens
        (for the one consumer, the hub)."""
        while True:
            yield await self._sheds.get()

    async def send_text(self, event: str, text: str, room: str | None, skip: Collection[str] = ()) -> None:
        """Send `text` (one JSON value) as `event` to every client in `room` (everyone when None)."""
        frame = None  # built for the first recipient: a type nobody watches costs no encoding
        sockets: dict[str, Any] = self.server.eio.sockets
        limit = self.queue_limit
        members = self.rooms.get("/", _NO_ROOMS).get(room)  # what get_participants copies as the loop starts
        recipients = 0 if members is None else len(members)  # less those skipped: no count per recipient
        for sid, eio_sid in self.get_participants("/", room):
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed or sid in skip:
                recipients -= 1
                continue
            if socket.queue.qsize() >= limit:
                recipients -= 1
                await self._shed(sid, socket)
                continue
            if frame is None:
                frame = engineio_message(event_frame(event, text))
            socket.queue.put_nowait(frame)  # (Engine.IO's send would check for a ping timeout first: the
            # server's service task does that for every socket anyway)
        self.sent[event] = self.sent.get(event, 0) + recipients

    async def close_connections(self, why: str, within: float | None = None) -> int:
        """Close every client's connection cleanly, after everything already queued for it, and wait (up to
        `within`, or until all are closed) until the close has gone out. Returns how many there were.

        The close is Engine.IO's (a CLOSE packet, then the websocket's close frame), not a Socket.IO namespace
        disconnect: socket.io clients treat "io server disconnect" as final and never reconnect by themselves,
        whereas after a transport close they reconnect with backoff and, with `auth.since`, resume without a
        gap."""
        clients = list(self.get_participants("/", None))
        log.info("%s: closing the connections of %d clients", why, len(clients))
        closing = [asyncio.create_task(self.server.eio.disconnect(eio_sid)) for _, eio_sid in clients]
        if closing:
            _, late = await asyncio.wait(closing, timeout=within)
            for task in late:
                task.cancel()
            if late:
                log.warning(
                    "%d of %d clients did not take the close in %g s", len(late), len(clients), within
                )
        return len(clients)

    async def _shed(self, sid: str, socket: Any) -> None:
        """Disconnect a client that does not keep up, without waiting for it to read anything."""
        backlog = socket.queue.qsize()
        log.warning(
            "client %s is %d messages behind (HUB_CLIENT_QUEUE_LIMIT): disconnecting it", sid, backlog
        )
        await socket.close(wait=False, abort=True, reason=self.server.reason.SERVER_DISCONNECT)
        while not socket.queue.empty():  # free the memory now, not when the dead peer's TCP times out
            socket.queue.get_nowait()
            socket.queue.task_done()
        socket.queue.put_nowait(None)  # ends the socket's writer task
        self._sheds.put_nowait((sid, backlog))


class RedisRoomEmitter(RoomEmitter, socketio.AsyncRedisManager):  # type: ignore[misc]
    """RoomEmitter over python-socketio's Redis manager: the hub processes share one Redis channel, on which
    `emit` and room operations reach clients of every process as usual, and which also carries the hub's own
    messages between processes (`publish_to_peers`, `peer_messages`): the leading process's stream, once
    per batch, which each process then sends to its own clients with `send_text`."""

    def __init__(self, url: str, channel: str, queue_limit: int) -> None:
        super().__init__(queue_limit, url=url, channel=channel)
        self._peer_messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def publish_to_peers(self, message: dict[str, Any]) -> None:
        """Publish `message` to the other processes (not to this one)."""
        await self._publish({"method": "emit", "hub": message, "host_id": self.host_id})

    def listen(self) -> None:
        """Listen to the other processes now: python-socketio starts the listener with the first client."""
        if not self.server.manager_initialized:
            self.server.manager_initialized = True
            self.initialize()

    async def peer_messages(self) -> AsyncIterator[dict[str, Any]]:
        """The hub's messages from the other processes, in the order they arrived (for the one consumer, the
        cluster)."""
        while True:
            yield await self._peer_messages.get()

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # the manager's listener passes every "emit" of another process here; the hub's own are marked
        peer_message = message.get("hub")
        if peer_message is None:
            await super()._handle_emit(message)
        else:
            self._peer_messages.put_nowait(peer_message)
