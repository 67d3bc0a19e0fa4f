"""The Socket.IO server the hub runs, and the core's `Transport` over it: one room per telemetry id."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from hub import codec
from hub.history import Record
from hub.settings import Settings
from hub.subscriptions import room
from hub.transport.refusals import RefusalLog
from hub.transport.room_emitter import RedisRoomEmitter, RoomEmitter
from hub.transport.socketio_server import HubSocketIOServer


def create_server(settings: Settings, refusals: RefusalLog) -> HubSocketIOServer:
    """The Socket.IO server, with the hub's emit path and JSON codec. Its manager (`RoomEmitter`) reports each
    client disconnected for falling more than HUB_CLIENT_QUEUE_LIMIT messages behind (`shed_clients`)."""
    manager = (
        RoomEmitter(settings.client_queue_limit)
        if settings.redis_url is None
        else RedisRoomEmitter(settings.redis_url, settings.redis_channel, settings.client_queue_limit)
    )
    return HubSocketIOServer(
        client_manager=manager,
        async_mode="asgi",  # always: with aiohttp installed the library would otherwise pick aiohttp
        cors_allowed_origins=settings.cors_origins,
        ping_interval=settings.ping_interval_s,
        ping_timeout=settings.ping_timeout_s,
        max_http_buffer_size=settings.max_message_bytes,
        json=codec,
        logger=False,
        engineio_logger=False,
        lean_sockets=not settings.admin_ui,
        refusals=refusals,
        handshake_timeout_s=settings.handshake_timeout_s,
    )


class SocketIOTransport:
    """The core's Transport over python-socketio: one room per telemetry id."""

    def __init__(self, sio: HubSocketIOServer) -> None:
        self.sio = sio
        self.emitter: RoomEmitter = sio.manager

    async def deliver(self, record: Record, skip: Collection[str]) -> None:
        if record.type == "data":
            await self.emitter.send_text("data", record.payload, room(record.id or ""), skip)
        else:
            await self.emitter.send_text(record.type, record.payload, None, skip)

    async def send(self, client: str, event: str, text: str) -> None:
        await self.emitter.send_text(event, text, client)

    async def join(self, client: str, ids: Iterable[str]) -> None:
        for telemetry_id in ids:
            await self.sio.enter_room(client, room(telemetry_id))

    async def leave(self, client: str, ids: Iterable[str]) -> None:
        for telemetry_id in ids:
            await self.sio.leave_room(client, room(telemetry_id))
