"""python-socketio's server, made to hold up against hostile clients: every byte is checked before it costs.

`HubSocketIOServer` changes four things of `socketio.AsyncServer`, each at the one place the library decides:
- Packets (`_handle_eio_message`): a packet that cannot be decoded, an event whose payload is no list, a
  binary packet announcing more than `MAX_ATTACHMENTS` attachments, or attachments adding up to more than
  HUB_MAX_MESSAGE_BYTES close the connection with a reason (said in the websocket close frame, code 1008, and
  logged once): the library would raise, log two tracebacks and, after a bad binary header, swallow every
  later event of the connection.
- Events of the default namespace (`_handle_event`): handed to the hub's `Dispatch` the moment they arrive,
  in arrival order, which binds them to their connection and its budget (hub/transport/connections.py)
  and answers at once when it refuses; an event whose name is not a string is answered `bad_request`.
- Sessions that did an Engine.IO handshake but never connected to the namespace are closed after
  HUB_HANDSHAKE_TIMEOUT_S (python-engineio keeps them, with their request headers, until a ping fails).
- Engine.IO sockets are `LeanSocket`s (hub/transport/lean_socket.py) unless the Admin UI needs the library's.

This depends on `AsyncServer`'s `_handle_eio_connect`, `_handle_eio_message`, `_handle_eio_disconnect`,
`_handle_connect`, `_handle_disconnect`, `_handle_ack`, `_send_packet`, `_binary_packet`, `packet_class` and
`environ`, and on `socketio.packet.Packet`'s `attachment_count`, `attachments` and `reconstruct_binary`:
python-socketio is pinned in requirements.txt, and tests/test_transport_internals.py fails when these change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from hub.transport.lean_socket import LeanSocket
from hub.transport.refusals import RefusalKind, RefusalLog

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10
"""Binary attachments one packet may announce; the hub's contract is JSON and needs none."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What the hub makes of an event as it arrives: the ack, now or from a handler to run, and whether
    to close the connection after answering (it kept flooding)."""

    ack: dict[str, Any] | Awaitable[dict[str, Any]]
    close_reason: str | None = None


Dispatch = Callable[[str, str, list[Any]], Admission]
"""(sid, event, arguments) of an event of the default namespace, as it arrives."""


class HubSocketIOServer(socketio.AsyncServer):  # type: ignore[misc]  # python-socketio has no type information
    """python-socketio's server with the hub's checks on packets, events and handshakes.

    The Socket.IO Admin UI's instrumentation counts packets and bytes by wrapping python-engineio's own
    websocket handler, which LeanSocket replaces: with the Admin UI on (HUB_ADMIN_UI), the hub keeps the
    library's sockets, so the UI's figures are right, at the library's cost per connection."""

    def __init__(
        self,
        *args: Any,
        refusals: RefusalLog,
        handshake_timeout_s: float,
        lean_sockets: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lean_sockets = lean_sockets
        self.refusals = refusals
        self.handshake_timeout_s = handshake_timeout_s
        self.dispatch: Dispatch | None = None
        self._binary_bytes: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def handle_events(self, dispatch: Dispatch) -> None:
        """Hand every event of the default namespace to `dispatch` (once, when the hub is assembled)."""
        self.dispatch = dispatch

    @property
    def handshakes_pending(self) -> int:
        """Engine.IO sessions not (or no longer) connected to the default namespace."""
        connected = self.manager.rooms.get("/", {}).get(None, {})
        return max(0, len(self.eio.sockets) - len(connected))

    # --- Engine.IO events -----------------------------------------------------------------------------

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        socket = self.eio.sockets.get(eio_sid)
        if self.lean_sockets and isinstance(socket, AsyncSocket):
            socket.__class__ = LeanSocket
        asyncio.get_running_loop().call_later(self.handshake_timeout_s, self._expire_handshake, eio_sid)
        try:
            return await super()._handle_eio_connect(eio_sid, environ)
        finally:
            # python-socketio keeps the connection's environ for its whole life; the body reader of its
            # first request (an object of a class python-engineio creates per request, about 2.8 KB) is
            # never read again: later long-polling requests come with environs of their own
            environ.pop("wsgi.input", None)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._binary_bytes.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _expire_handshake(self, eio_sid: str) -> None:
        if eio_sid in self.eio.sockets and self.manager.sid_from_eio_sid(eio_sid, "/") is None:
            reason = (
                f"did not connect to the namespace within {self.handshake_timeout_s:g} s of its handshake"
            )
            self._start(self.close_connection(eio_sid, reason, "idle_session"))

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            await self._attachment(eio_sid, pending, data)
            return
        if not isinstance(data, str):
            await self.close_connection(eio_sid, "sent a binary message no packet announced")
            return
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception as error:
            await self.close_connection(eio_sid, f"sent a packet that cannot be decoded ({error})")
            return
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == sio_packet.EVENT:
            await self._event(eio_sid, pkt)
        elif kind == sio_packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
            if self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/") is None:
                await self.close_connection(
                    eio_sid, "sent a binary packet before connecting to its namespace"
                )
            elif not 0 < pkt.attachment_count <= MAX_ATTACHMENTS:
                await self.close_connection(
                    eio_sid,
                    f"sent a binary packet announcing {pkt.attachment_count} attachments (at most "
                    f"{MAX_ATTACHMENTS})",
                    "too_many_attachments",
                )
            else:
                self._binary_packet[eio_sid] = pkt
                self._binary_bytes[eio_sid] = 0
        else:
            await self.close_connection(eio_sid, f"sent a packet of type {kind}, which a client may not send")

    async def _attachment(self, eio_sid: str, pkt: Any, data: Any) -> None:
        if not isinstance(data, bytes):
            await self.close_connection(eio_sid, "sent a text packet where a binary attachment was announced")
            return
        size = self._binary_bytes[eio_sid] = self._binary_bytes.get(eio_sid, 0) + len(data)
        if size > self.eio.max_http_buffer_size:
            await self.close_connection(
                eio_sid,
                f"sent binary attachments of more than {self.eio.max_http_buffer_size} bytes for one packet",
                "too_many_attachments",
            )
            return
        pkt.attachments.append(data)
        if len(pkt.attachments) < pkt.attachment_count:
            return
        del self._binary_packet[eio_sid]
        self._binary_bytes.pop(eio_sid, None)
        try:
            pkt.data = pkt.reconstruct_binary(pkt.data, pkt.attachments)
        except Exception as error:
            await self.close_connection(eio_sid, f"sent a binary packet that cannot be rebuilt ({error})")
            return
        if pkt.packet_type == sio_packet.BINARY_EVENT:
            await self._event(eio_sid, pkt)
        else:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)

    # --- events ---------------------------------------------------------------------------------------

    async def _event(self, eio_sid: str, pkt: Any) -> None:
        data = pkt.data
        if not isinstance(data, list) or not data:
            await self.close_connection(
                eio_sid, "sent an event packet whose payload is not a list starting with a name"
            )
            return
        namespace = pkt.namespace or "/"
        if namespace != "/" or self.dispatch is None:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, data)
            return
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is None or not self.manager.is_connected(sid, "/"):
            await self.close_connection(eio_sid, "sent an event without being connected", "not_connected")
            return
        event, args = data[0], data[1:]
        admission = self.dispatch(sid, event, args)
        if isinstance(admission.ack, dict):
            await self._ack(eio_sid, pkt.id, admission.ack)
        else:
            self._start(self._answer(eio_sid, pkt.id, admission.ack))
        if admission.close_reason is not None:
            await self.close_connection(eio_sid, admission.close_reason, "flooding")

    async def _answer(self, eio_sid: str, id: int | None, ack: Awaitable[dict[str, Any]]) -> None:
        await self._ack(eio_sid, id, await ack)

    async def _ack(self, eio_sid: str, id: int | None, ack: dict[str, Any]) -> None:
        if id is not None and eio_sid in self.eio.sockets:
            await self._send_packet(
                eio_sid, self.packet_class(sio_packet.ACK, namespace="/", id=id, data=[ack])
            )

    # --- closing --------------------------------------------------------------------------------------

    async def close_connection(self, eio_sid: str, reason: str, kind: RefusalKind = "bad_packet") -> None:
        """Close a client's connection because it `reason` ("sent ..."): logged (once a kind and interval),
        counted, and said in the websocket's close frame."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None:
            return
        peer = self.environ.get(eio_sid, {}).get("REMOTE_ADDR", eio_sid)  # per address: reconnecting
        message = f"closing the connection of {eio_sid} from {peer}: it {reason}"  # logs no more lines
        self.refusals.note(kind, peer, message, logging.WARNING)
        self._binary_packet.pop(eio_sid, None)
        self._binary_bytes.pop(eio_sid, None)
        if isinstance(socket, LeanSocket):  # a close frame's reason holds at most 123 bytes
            socket.close_reason = f"the client {reason}".encode()[:123].decode(errors="ignore")
        # without waiting for the client to read what is queued: it may never read again
        await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        self.eio.sockets.pop(eio_sid, None)

    def _start(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
