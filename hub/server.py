"""The Socket.IO layer: decodes client events, calls the core, returns acks; delivers the core's messages.

Every event a client can send gets an ack, errors included: a handler that returned nothing would leave a
client's `emitWithAck` waiting forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError

from hub import codec
from hub.auth import ANONYMOUS, Authenticator, Principal
from hub.core import Hub
from hub.emitter import RedisRoomEmitter, RoomEmitter
from hub.engineio_socket import HubSocketIOServer
from hub.errors import BadRequest, Forbidden, HubError, RateLimited, UnknownEvent
from hub.history import Record
from hub.messages import CommandRequest, ConnectAuth, ErrorAck, ErrorBody, SubscriptionRequest
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from hub.subscriptions import room

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)

KNOWN_EVENTS = "subscribe, unsubscribe, command"


def create_server(settings: Settings, on_shed: Callable[[str, int], None]) -> socketio.AsyncServer:
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
    )


class SocketIOTransport:
    """The core's Transport over python-socketio: one room per telemetry id."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.emitter: RoomEmitter = sio.manager

    async def deliver(self, record: Record, skip: Collection[str]) -> None:
        if record.type == "data":
            await self.emitter.send_text("data", record.payload, room(record.id or ""))
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


def register(sio: socketio.AsyncServer, hub: Hub, settings: Settings, authenticator: Authenticator) -> None:
    """Attach the hub's event handlers to `sio`: who may connect, and who may do what once connected."""
    principals: dict[str, Principal] = {}
    limiter = RateLimiter(settings.command_rate, settings.command_burst)

    def reserved(name: str, sid: str) -> dict[str, Any] | None:
        """An error ack if a connected client sent an event with a reserved name (python-socketio passes
        such events to the real handler; a genuine connect or disconnect is never 'connected' here)."""
        if sio.manager.is_connected(sid, "/"):
            return _error(
                UnknownEvent(f"{name!r} is reserved; the hub handles {KNOWN_EVENTS}", {"event": name})
            )
        return None

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: Any = None, auth: Any = None) -> dict[str, Any] | None:
        if (refusal := reserved("connect", sid)) is not None:
            return refusal
        peer = environ.get("REMOTE_ADDR", "?")
        if len(hub.clients) >= settings.max_clients:
            log.warning("refused %s from %s: %d clients connected", sid, peer, len(hub.clients))
            raise socketio.exceptions.ConnectionRefusedError(
                f"the hub is full ({settings.max_clients} clients); try again later",
                {"code": "too_many_clients"},
            )
        try:
            credentials = ConnectAuth.model_validate(auth if auth is not None else {})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, p['loc'])) or 'auth'}: {p['msg']}" for p in error.errors()
            )
            raise socketio.exceptions.ConnectionRefusedError(
                f"invalid auth: {problems}", {"code": "bad_request"}
            ) from None
        principal = authenticator.authenticate(credentials.token)
        if principal is None:
            log.warning("refused %s from %s: %s token", sid, peer, "unknown" if credentials.token else "no")
            problem = "the token is not valid" if credentials.token else "this hub needs a token"
            raise socketio.exceptions.ConnectionRefusedError(
                f"{problem}: connect with auth: {{token: ...}}", {"code": "unauthorized"}
            )
        principals[sid] = principal
        hub.connect(sid, credentials.since)
        log.info(
            "client %s (%s, %s) connected from %s (%d connected)",
            sid, principal.name, principal.role, peer, len(hub.clients),
        )  # fmt: skip
        return None

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, reason: Any = None) -> dict[str, Any] | None:
        if (refusal := reserved("disconnect", sid)) is not None:
            return refusal
        hub.disconnect(sid)
        principals.pop(sid, None)
        limiter.forget(sid)
        log.info("client %s disconnected (%s)", sid, reason)
        return None

    sio.on("subscribe", _handler(SubscriptionRequest, hub.subscribe))
    sio.on("unsubscribe", _handler(SubscriptionRequest, hub.unsubscribe))

    async def command(sid: str, request: CommandRequest) -> BaseModel:
        principal = principals.get(sid, ANONYMOUS)
        try:
            if not principal.may("operator"):
                raise Forbidden(
                    f"sending commands needs the operator role; {principal.name} is a {principal.role}"
                )
            if (wait := limiter.take(sid)) > 0:
                raise RateLimited(
                    f"more than {settings.command_burst} commands at once or {settings.command_rate:g}/s; "
                    f"try again in {wait:.2f} s",
                    {"retry_after_s": round(wait, 3)},
                )
            ack = await hub.command(request)
        except HubError as error:
            log.info("command %s from %s (%s) refused: %s", request.command, sid, principal.name, error.code)
            hub.metrics.command_refused(error.code)
            raise
        log.info(
            "command %s from %s (%s) accepted as %s", request.command, sid, principal.name, ack.command_id
        )
        return ack

    sio.on("command", _handler(CommandRequest, command))

    @sio.on("*")  # type: ignore[untyped-decorator]
    async def unknown(*args: Any) -> dict[str, Any]:
        # python-socketio calls the catch-all with (event, sid, *data), except for an event literally
        # named "*", which it passes as (sid, *data), as if this were that event's own handler
        catch_all = len(args) >= 2 and isinstance(args[1], str) and sio.manager.is_connected(args[1], "/")
        event = args[0] if catch_all else "*"
        return _error(
            UnknownEvent(f"unknown event {event!r}; the hub handles {KNOWN_EVENTS}", {"event": event})
        )


def _handler(
    model: type[R], call: Callable[[str, R], Awaitable[BaseModel]]
) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handle(sid: str, *args: Any) -> dict[str, Any]:
        try:
            ack = await call(sid, _decode(model, args))
        except HubError as error:
            return _error(error)
        except Exception:
            log.exception("handling an event from %s failed", sid)
            return _error(HubError("internal error; the hub logged it"))
        return ack.model_dump(exclude_none=True)

    return handle


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
