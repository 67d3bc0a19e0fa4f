"""The Socket.IO layer: decodes client events, calls the core, returns acks; delivers the core's messages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError

from hub import codec
from hub.auth import Authenticator
from hub.connections import Connection, Connections, Flooding
from hub.core import Hub
from hub.emitter import RedisRoomEmitter, RoomEmitter
from hub.errors import BadRequest, Forbidden, HubError, RateLimited, UnknownEvent
from hub.history import Record
from hub.messages import CommandRequest, ConnectAuth, ErrorAck, ErrorBody, SubscriptionRequest
from hub.refusals import RefusalKind, RefusalLog
from hub.settings import Settings
from hub.socketio_server import Admission, HubSocketIOServer
from hub.subscriptions import room

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)

KNOWN_EVENTS = "subscribe, unsubscribe, command"


def create_server(
    settings: Settings, on_shed: Callable[[str, int], None], refusals: RefusalLog
) -> HubSocketIOServer:
    """The Socket.IO server, with the hub's emit path and JSON codec. `on_shed(sid, backlog)` is told of
    every client disconnected for falling more than HUB_CLIENT_QUEUE_LIMIT messages behind."""
    manager = (
        RoomEmitter(settings.client_queue_limit, on_shed)
        if settings.redis_url is None
        else RedisRoomEmitter(
            settings.redis_url, settings.redis_channel, settings.client_queue_limit, on_shed
        )
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

    def __init__(self, sio: socketio.AsyncServer) -> None:
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


class Events:
    """The hub's answer to each client event: who may connect, and who may do what once connected.

    Every event of a connected client gets an ack, refusals included: a handler that returned nothing would
    leave a client's `emitWithAck` waiting forever. Each event is bound to its connection (and so to the
    identity it connected with) the moment it arrives, and admitted within the connection's budget
    (hub/connections.py) before any work is done for it."""

    def __init__(
        self,
        sio: HubSocketIOServer,
        hub: Hub,
        settings: Settings,
        authenticator: Authenticator,
        refusals: RefusalLog,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.authenticator = authenticator
        self.refusals = refusals
        self.connections = Connections(
            settings.event_rate,
            settings.event_burst,
            settings.command_rate,
            settings.command_burst,
            settings.max_events_in_flight,
            settings.address_event_rate,
            settings.address_event_burst,
        )
        self._handlers: dict[str, Callable[[Connection, tuple[Any, ...]], Awaitable[BaseModel]]] = {
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "command": self.command,
        }
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.handle_events(self.dispatch)

    async def connect(self, sid: str, environ: Any = None, auth: Any = None) -> None:
        peer = environ.get("REMOTE_ADDR", "?")
        hub, settings = self.hub, self.settings
        if len(hub.clients) >= settings.max_clients:
            log.warning("refused %s from %s: %d clients connected", sid, peer, len(hub.clients))
            raise socketio.exceptions.ConnectionRefusedError(
                f"the hub is full ({settings.max_clients} clients); try again later",
                {"code": "too_many_clients"},
            )
        try:
            self.connections.admit_connect(peer)
        except RateLimited as error:
            self.refusals.note("rate_limited", peer, f"refused {sid} from {peer}: {error.message}")
            raise socketio.exceptions.ConnectionRefusedError(
                error.message, {"code": "rate_limited", **error.details}
            ) from None
        try:
            credentials = ConnectAuth.model_validate(auth if auth is not None else {})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, p['loc'])) or 'auth'}: {p['msg']}" for p in error.errors()
            )
            raise socketio.exceptions.ConnectionRefusedError(
                f"invalid auth: {problems}", {"code": "bad_request"}
            ) from None
        principal = self.authenticator.authenticate(credentials.token)
        if principal is None:
            log.warning("refused %s from %s: %s token", sid, peer, "unknown" if credentials.token else "no")
            problem = "the token is not valid" if credentials.token else "this hub needs a token"
            raise socketio.exceptions.ConnectionRefusedError(
                f"{problem}: connect with auth: {{token: ...}}", {"code": "unauthorized"}
            )
        self.connections.open(sid, principal, peer)
        hub.connect(sid, credentials.since)
        log.info(
            "client %s (%s, %s) connected from %s (%d connected)",
            sid, principal.name, principal.role, peer, len(hub.clients),
        )  # fmt: skip

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        self.connections.close(sid)
        self.refusals.forget(sid)
        self.hub.disconnect(sid)
        log.info("client %s disconnected (%s)", sid, reason)

    def dispatch(self, sid: str, event: Any, args: list[Any]) -> Admission:
        """Admit an event as it arrives (in arrival order): its ack now, or its handler bound to its
        connection."""
        try:
            connection = self.connections.admit(sid)
        except Flooding as error:
            return Admission(_error(error), close_reason="kept sending events past its budget")
        except HubError as error:
            kind: RefusalKind = "rate_limited" if isinstance(error, RateLimited) else "not_connected"
            self.refusals.note(kind, sid, f"refused an event of {sid}: {error.message}")
            return Admission(_error(error))
        handler = self._handlers.get(event) if isinstance(event, str) else None
        if handler is None:
            self.connections.release(connection)
            if not isinstance(event, str):
                shape = type(event).__name__
                return Admission(_error(BadRequest(f"an event name is a string, not a {shape}")))
            return Admission(
                _error(
                    UnknownEvent(f"unknown event {event!r}; the hub handles {KNOWN_EVENTS}", {"event": event})
                )
            )
        return Admission(self._handle(connection, handler, tuple(args)))

    async def _handle(
        self,
        connection: Connection,
        handler: Callable[[Connection, tuple[Any, ...]], Awaitable[BaseModel]],
        args: tuple[Any, ...],
    ) -> dict[str, Any]:
        try:
            if connection.closed:  # its disconnect arrived before this event's turn came
                raise Forbidden("the connection closed before this event was handled")
            ack = await handler(connection, args)
        except HubError as error:
            return _error(error)
        except Exception:
            log.exception("handling an event from %s failed", connection.sid)
            return _error(HubError("internal error; the hub logged it"))
        finally:
            self.connections.release(connection)
        return ack.model_dump(exclude_none=True)

    async def subscribe(self, connection: Connection, args: tuple[Any, ...]) -> BaseModel:
        return await self.hub.subscribe(connection.sid, _decode(SubscriptionRequest, args))

    async def unsubscribe(self, connection: Connection, args: tuple[Any, ...]) -> BaseModel:
        return await self.hub.unsubscribe(connection.sid, _decode(SubscriptionRequest, args))

    async def command(self, connection: Connection, args: tuple[Any, ...]) -> BaseModel:
        request = _decode(CommandRequest, args)
        principal = connection.principal
        try:
            if not principal.may("operator"):
                raise Forbidden(
                    f"sending commands needs the operator role; {principal.name} is a {principal.role}"
                )
            self.connections.take_command(connection)
            ack = await self.hub.command(request)
        except HubError as error:
            self.hub.metrics.command_refused(error.code)
            self.refusals.note(
                "command_refused",
                connection.sid,
                f"command {request.command} from {connection.sid} ({principal.name}) refused: {error.code}",
            )
            raise
        log.info(
            "command %s from %s (%s) accepted as %s",
            request.command, connection.sid, principal.name, ack.command_id,
        )  # fmt: skip
        return ack


def _decode(model: type[R], args: tuple[Any, ...]) -> R:
    if len(args) != 1 or not isinstance(args[0], dict):
        shape = (
            "nothing" if not args else f"{len(args)} arguments" if len(args) > 1 else type(args[0]).__name__
        )
        raise BadRequest(f"expected one JSON object as the payload, got {shape}")
    try:
        return model.model_validate(args[0])
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        summary = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'payload'}: {p['msg']}" for p in problems)
        raise BadRequest(f"invalid payload: {summary}", problems) from None


def _error(error: HubError) -> dict[str, Any]:
    ack = ErrorAck(error=ErrorBody(code=error.code, message=error.message, details=error.details))
    return ack.model_dump()
