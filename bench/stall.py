"""Stalled clients: a socket.io connection that subscribes and then never reads again (a frozen browser tab).

Written against the wire protocol (Engine.IO 4 over a websocket) because no socket.io client library can be
told to stop reading. The websockets client stops taking data off the socket once `max_queue` frames wait
unread, so the kernel's buffers fill and the server sees a client that does not keep up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import websockets
from websockets.asyncio.client import ClientConnection


async def stalled_client(url: str, ids: Sequence[str]) -> ClientConnection:
    """Connect to `url`, subscribe to `ids`, wait for the ack; the caller then never reads from it."""
    ws = await websockets.connect(
        url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
        max_queue=1, ping_interval=None, compression=None, open_timeout=30,
    )  # fmt: skip
    if not str(await ws.recv()).startswith("0"):  # Engine.IO open
        raise ConnectionError("no Engine.IO open packet")
    await ws.send("40")
    if not str(await ws.recv()).startswith("40"):
        raise ConnectionError("no Socket.IO connect packet")
    await ws.send("420" + json.dumps(["subscribe", {"ids": list(ids)}]))
    while not str(await ws.recv()).startswith("430"):  # data may come first on some servers
        pass
    return ws
