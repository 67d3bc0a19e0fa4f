"""An ASGI guard in front of everything: refuses client messages larger than HUB_MAX_MESSAGE_BYTES, loudly.

Engine.IO closes a websocket whose message is too large without saying why (it looks like the client left),
so the hub checks first: it logs who sent how much, closes the websocket with code 1009 and a reason the
client can read, and answers an oversized long-polling POST with 413.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Event = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MESSAGE_TOO_BIG = 1009


class MessageSizeGuard:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._checked(scope, receive, send), send)
        elif scope["type"] == "http" and self._declared_size(scope) > self.max_bytes:
            await self._refuse_post(scope, send)
        else:
            await self.app(scope, receive, send)

    def _checked(self, scope: Scope, receive: Receive, send: Send) -> Receive:
        async def receive_checked() -> Event:
            event = await receive()
            if event["type"] == "websocket.receive":
                size = len(event.get("bytes") or b"") + len((event.get("text") or "").encode())
                if size > self.max_bytes:
                    reason = f"message of {size} bytes is over the limit of {self.max_bytes} bytes"
                    log.warning(
                        "closing the connection of %s: %s (HUB_MAX_MESSAGE_BYTES)", _peer(scope), reason
                    )
                    await send({"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": reason})
                    return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
            return event

        return receive_checked

    @staticmethod
    def _declared_size(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _refuse_post(self, scope: Scope, send: Send) -> None:
        size = self._declared_size(scope)
        reason = f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"
        log.warning(
            "refused a request from %s to %s: %s (HUB_MAX_MESSAGE_BYTES)", _peer(scope), scope["path"], reason
        )
        body = json.dumps({"message": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"
