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

This subclasses uvicorn's `WebSocketsSansIOProtocol` and uses its attributes `conn` (the websockets
`ServerProtocol`), `transport`, `writable`, `disconnected`, `handshake_complete`, `close_sent` and
`initial_response`: uvicorn and websockets are pinned in requirements.txt, and
tests/test_websocket_protocol.py fails when these change.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from hub.settings import Settings

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

    def write_collected(self) -> None:
        """Write what was collected, unless the connection closed meanwhile (its frames are then moot)."""
        if not self.collected:
            return
        frames, self.collected = self.collected, []
        if self.conn.state is State.OPEN and not self.transport.is_closing():
            self.transport.write(b"".join(frames))


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn settings for the hub's websockets. uvicorn's own keepalive pings are off: Engine.IO already
    pings every client (HUB_PING_INTERVAL_S), and one timer per connection is enough."""
    return {
        "ws": HubWebSocketProtocol,
        "ws_per_message_deflate": settings.ws_deflate,
        "ws_ping_interval": None,
    }
