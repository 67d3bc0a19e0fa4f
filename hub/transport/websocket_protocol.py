"""The websocket end of the fast emit path: each message framed once, each client's frames written together.

uvicorn's websocket protocol frames every message it is given and writes it to the socket at once: one
frame built and one system call per message per client. In a fan-out every client gets the same messages,
so the hub frames each message once (`PreparedText`, built by the emitter, carries its finished frame) and
`HubWebSocketProtocol` collects what one client is sent during one turn of the event loop and hands it to
the transport in one write at the end of that turn. Nothing waits for a timer: the write happens as soon as
the code that queued the frames yields.

Everything that is not a plain text message on an open connection without extensions (the handshake,
close, binary data, per-message deflate when HUB_WS_DEFLATE turns it on) goes through uvicorn's own code,
after what is collected has been written, so frames keep their order.

uvicorn reads a websocket message of up to `ws_max_size` bytes before the application sees it; the hub sets
that a little above HUB_MAX_MESSAGE_BYTES (`max_size`), so a larger message is refused while it arrives.

This subclasses uvicorn's `WebSocketsSansIOProtocol` and uses its attributes `conn` (the websockets
`ServerProtocol`), `transport`, `writable`, `disconnected`, `handshake_complete`, `close_sent`,
`initial_response` and `client`, and its method `handle_parser_exception`: uvicorn and websockets are pinned
in requirements.txt, and tests/test_transport_internals.py fails when these change.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode
from websockets.protocol import State

from hub.settings import Settings

log = logging.getLogger(__name__)

FIN_TEXT = 0x81
"""First byte of an unfragmented text frame (RFC 6455, section 5.2): FIN set, opcode 1."""


def text_frame(payload: bytes) -> bytes:
    """An unmasked (server to client), unfragmented websocket text frame carrying `payload`."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", FIN_TEXT, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", FIN_TEXT, 127, size)
    return header + payload


class PreparedText(str):
    """A text message together with its websocket frame, built once for all the clients it goes to."""

    frame: bytes

    def __new__(cls, text: str) -> PreparedText:
        prepared = super().__new__(cls, text)
        prepared.frame = text_frame(text.encode())
        return prepared


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, writing each client's text frames once per turn of the event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.collected: list[bytes] = []

    async def send(self, message: Any) -> None:
        text = message.get("text") if message["type"] == "websocket.send" else None
        if text is None or not self.handshake_complete or self.close_sent or self.initial_response:
            self.write_collected()
            await super().send(message)
            return
        await self.writable.wait()  # the transport's buffer is below its high-water mark
        if self.disconnected or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        if self.conn.extensions:  # per-message deflate: frames differ per connection
            self.write_collected()
            await super().send(message)
            return
        frame = text.frame if isinstance(text, PreparedText) else text_frame(text.encode())
        if not self.collected:
            self.loop.call_soon(self.write_collected)
        self.collected.append(frame)

    def handle_parser_exception(self) -> None:
        """A frame websockets refused: log a message over `ws_max_size`, as the guard logs smaller ones."""
        close = self.conn.close_sent
        if close is not None and close.code == CloseCode.MESSAGE_TOO_BIG:
            peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            log.warning("closing the connection of %s: %s (HUB_MAX_MESSAGE_BYTES)", peer, close.reason)
        super().handle_parser_exception()

    def write_collected(self) -> None:
        """Write what was collected, unless the connection closed meanwhile (its frames are then moot)."""
        if not self.collected:
            return
        frames, self.collected = self.collected, []
        if self.conn.state is State.OPEN and not self.transport.is_closing():
            self.transport.write(b"".join(frames))


def max_size(max_message_bytes: int) -> int:
    """The largest websocket message uvicorn reads, for a hub taking `max_message_bytes`: a quarter more.

    A message over the limit but not over this is read whole, then refused by hub/transport/request_guard.py
    with 1009 and a reason naming the limit; a larger one is refused by the websocket parser from its frame
    header (1009 too, with the parser's reason), before its payload is read. Both are logged. Without this,
    uvicorn would read up to 16 MiB of a message before anything refused it."""
    return max_message_bytes + max_message_bytes // 4


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn settings for the hub's websockets. uvicorn's own keepalive pings are off: Engine.IO already
    pings every client (HUB_PING_INTERVAL_S), and one timer per connection is enough."""
    return {
        "ws": HubWebSocketProtocol,
        "ws_max_size": max_size(settings.max_message_bytes),
        "ws_per_message_deflate": settings.ws_deflate,
        "ws_ping_interval": None,
    }
