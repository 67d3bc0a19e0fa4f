"""A lighter Engine.IO socket: what each connected client costs the hub while it is connected.

python-engineio's `AsyncSocket` keeps, for every websocket client, a task that sleeps until the next ping,
a new task and timeout for every read, and a new task and timeout every time its writer waits for the next
packet. At 10,000 mostly idle clients those are most of the hub's memory, and in a fan-out the writer's
timeout costs a task per client per burst of messages. `LeanSocket` does the same protocol with:

- one timer per client for the next ping (a task would hold a coroutine frame for the whole interval);
- one reader loop and one writer task per websocket, waiting without timeouts: a client that stops
  answering pings is found by the Engine.IO server's service task, as with stock sockets, and closing a
  socket now also ends its writer, which closes the websocket, which ends the reader;
- the writer takes everything queued for its client at once and hands it to the websocket in a row, so the
  transport (hub/transport/websocket_protocol.py) writes it in one system call.

`hub.transport.socketio_server.HubSocketIOServer` gives every new Engine.IO socket this class, at the
moment the Engine.IO server reports the connection (before any ping is scheduled or the websocket handler
runs): python-engineio creates its sockets itself and offers no hook for the class. This depends on
`AsyncSocket`'s attributes (`queue`, `last_ping`, `connected`, `upgrading`, `upgraded`, `closing`, `closed`)
and methods (`receive`, `close`, `schedule_ping`, `_websocket_handler`): python-engineio and
python-socketio are pinned in requirements.txt, and tests/test_transport_internals.py fails when these change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


class LeanSocket(AsyncSocket):  # type: ignore[misc]  # python-engineio has no type information
    """An Engine.IO socket with one timer for pings and no task or timeout per read."""

    last_ping: float | None  # (set by AsyncSocket.__init__; declared for the type checker)
    connected: bool
    upgraded: bool
    ping_timer: asyncio.TimerHandle | None = None
    close_reason: str | None = None
    """Said in the websocket's close frame (1008, policy violation) when the hub closes it for a reason."""

    def schedule_ping(self) -> None:
        if self.last_ping:  # only once the client answered the previous ping (or at connection)
            self.last_ping = None
            self.ping_timer = asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        self.ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(eio_packet.Packet(eio_packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        await super().close(wait=wait, abort=abort, reason=reason)
        if self.ping_timer is not None:
            self.ping_timer.cancel()
        if self.upgraded:
            self.queue.put_nowait(None)  # after the CLOSE packet, if any: the writer stops there

    async def _websocket_handler(self, ws: Any) -> None:
        if self.connected and not await self._upgrade(ws):  # polling until now
            return
        self.connected = self.upgraded = True
        writer = asyncio.ensure_future(self._write(ws))
        try:
            await self._read(ws)
        finally:
            self.queue.put_nowait(None)
            await writer
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _read(self, ws: Any) -> None:
        """Hand every packet the client sends to Engine.IO, until the websocket or the socket closes (what a
        client closed for flooding had sent meanwhile is never read)."""
        while not self.closed:
            try:
                data = await ws.wait()
            except OSError:  # the websocket closed
                return
            if not data or len(data) > self.server.max_http_buffer_size:
                return
            try:
                await self.receive(eio_packet.Packet(encoded_packet=data))
                # a packet's handling rarely suspends, so a client whose frames are all buffered already
                # would hold the event loop until it had read them all: 20 connections pipelining commands
                # delayed everyone's stream by 400 ms (p99) before this turn
                await asyncio.sleep(0)
            except exceptions.UnknownPacketError:
                continue
            except exceptions.SocketIsClosedError:
                return
            except Exception as error:  # a bad packet ends this client's connection, never the hub
                log.warning(
                    "client %s sent a packet Engine.IO cannot handle (%r): closing it", self.sid, error
                )
                return

    async def _write(self, ws: Any) -> None:
        """Send every queued packet, all that is queued at once, until the queue says stop (None)."""
        queue = self.queue
        try:
            while True:
                packets = [await queue.get()]
                while not queue.empty():
                    packets.append(queue.get_nowait())
                try:
                    for packet in packets:
                        if packet is None:
                            return
                        await ws.send(packet.encode())
                finally:
                    for _ in packets:
                        queue.task_done()
        except Exception:  # the websocket is gone: nothing more can be sent
            return
        finally:
            if self.close_reason is None:
                await ws.close()
            else:
                with contextlib.suppress(Exception):  # the websocket may be gone already
                    close = {"type": "websocket.close", "code": POLICY_VIOLATION, "reason": self.close_reason}
                    await ws.asgi_send(close)

    async def _upgrade(self, ws: Any) -> bool:
        """The Engine.IO upgrade from long-polling: probe ping and pong, then the client's UPGRADE."""
        self.upgrading = True  # the long-poll answers NOOP from now on
        try:
            probe = eio_packet.Packet(encoded_packet=await ws.wait())
            if probe.packet_type != eio_packet.PING or probe.data != "probe":
                return False
            await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending long-poll
            upgrade = eio_packet.Packet(encoded_packet=await ws.wait())
            return bool(upgrade.packet_type == eio_packet.UPGRADE)
        except (OSError, ValueError):
            return False
        finally:
            self.upgrading = False
