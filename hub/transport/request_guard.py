"""An ASGI guard in front of everything: bounds what one request or websocket message may cost, loudly.

- A websocket message larger than HUB_MAX_MESSAGE_BYTES closes the websocket with 1009 and a reason the
  client can read (Engine.IO would close it without saying why, as if the client had left).
- An HTTP request whose head (all headers) is larger than HUB_MAX_HEADER_BYTES gets 431: python-engineio
  keeps a session's headers for its whole life, and 300 long-polling handshakes with a 1 MB header each held
  572 MB. The websocket path has the same bound in its parser.
- A long-polling POST larger than HUB_MAX_MESSAGE_BYTES gets 413, whether it says its length or is chunked;
  one carrying more packets than Engine.IO decodes (`MAX_POLLING_PACKETS`) gets 400 (Engine.IO would answer
  200 and drop them all).
- A long-polling handshake while HUB_MAX_HANDSHAKES sessions have not connected to the namespace gets 503.
Every refusal is counted and logged once a kind and interval (hub/transport/refusals.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from hub.transport.refusals import RefusalKind, RefusalLog

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Event = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MESSAGE_TOO_BIG = 1009
MAX_POLLING_PACKETS = 16
"""Packets python-engineio decodes from one long-polling POST (`Payload.max_decode_packets`)."""
ENGINEIO_PATH = "/socket.io/"


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        refusals: RefusalLog,
        max_message_bytes: int,
        max_header_bytes: int,
        max_handshakes: int,
        handshakes_pending: Callable[[], int],
    ) -> None:
        self.app = app
        self.refusals = refusals
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self.max_handshakes = max_handshakes
        self.handshakes_pending = handshakes_pending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._checked(scope, receive, send), send)
        elif scope["type"] != "http":
            await self.app(scope, receive, send)
        elif (head := sum(len(n) + len(v) + 4 for n, v in scope.get("headers", ()))) > self.max_header_bytes:
            await self._refuse(
                scope, send, 431, "header_too_large",
                f"request headers of {head} bytes are over the limit of {self.max_header_bytes} bytes "
                "(HUB_MAX_HEADER_BYTES)",
            )  # fmt: skip
        elif not scope["path"].startswith(ENGINEIO_PATH):
            await self.app(scope, receive, send)
        elif scope["method"] == "POST":
            await self._polling_post(scope, receive, send)
        elif self.handshakes_pending() >= self.max_handshakes and "sid" not in parse_qs(
            scope.get("query_string", b"").decode("latin-1")
        ):  # (the count first: the query string is parsed only while the limit is reached)
            await self._refuse(
                scope, send, 503, "too_many_handshakes",
                f"{self.max_handshakes} sessions have not connected yet (HUB_MAX_HANDSHAKES); try later",
            )  # fmt: skip
        else:
            await self.app(scope, receive, send)

    def _checked(self, scope: Scope, receive: Receive, send: Send) -> Receive:
        async def receive_checked() -> Event:
            event = await receive()
            if event["type"] == "websocket.receive":
                size = len(event.get("bytes") or b"") + len((event.get("text") or "").encode())
                if size > self.max_message_bytes:
                    reason = f"message of {size} bytes is over the limit of {self.max_message_bytes} bytes"
                    log.warning(
                        "closing the connection of %s: %s (HUB_MAX_MESSAGE_BYTES)", _peer(scope), reason
                    )
                    await send({"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": reason})
                    return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
            return event

        return receive_checked

    async def _polling_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body (up to the limit, chunked or not), count its packets, and hand it on."""
        body = b""
        declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
        too_big = not declared.isdigit() or int(declared) > self.max_message_bytes
        while not too_big:
            event = await receive()
            if event["type"] != "http.request":
                return  # the client left
            body += event.get("body", b"")
            too_big = len(body) > self.max_message_bytes
            if not event.get("more_body", False):
                break
        if too_big:
            log.warning(
                "refused a request from %s to %s: body over the limit of %d bytes (HUB_MAX_MESSAGE_BYTES)",
                _peer(scope), scope["path"], self.max_message_bytes,
            )  # fmt: skip
            await _respond(send, 413, f"request body over the limit of {self.max_message_bytes} bytes")
            return
        if (packets := body.count(b"\x1e") + 1) > MAX_POLLING_PACKETS:
            await self._refuse(
                scope, send, 400, "too_many_packets",
                f"{packets} packets in one long-polling POST; Engine.IO takes at most {MAX_POLLING_PACKETS}",
            )  # fmt: skip
            return
        headers = [(n, v) for n, v in scope["headers"] if n not in (b"content-length", b"transfer-encoding")]
        scope["headers"] = [*headers, (b"content-length", str(len(body)).encode())]
        sent = False

        async def replay() -> Event:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, kind: RefusalKind, reason: str) -> None:
        host = (scope.get("client") or ("?",))[0]  # one log line per kind and address, whatever the port
        self.refusals.note(kind, host, f"refused a request from {_peer(scope)} to {scope['path']}: {reason}")
        await _respond(send, status, reason)


async def _respond(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"
