"""The hub's answer to each client event: decode the payload, call the core, return the ack."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError

from hub.auth import Authenticator
from hub.core import Hub
from hub.errors import (
    BadRequest,
    Forbidden,
    HubError,
    RateLimited,
    TooManyClients,
    Unauthorized,
    UnknownEvent,
    summarize,
)
from hub.messages import CommandRequest, ConnectAuth, ErrorAck, ErrorBody, SubscriptionRequest
from hub.metrics import HubMetrics
from hub.settings import Settings
from hub.transport.connections import Connection, Connections, Flooding
from hub.transport.refusals import RefusalKind, RefusalLog
from hub.transport.socketio_server import Admission, HubSocketIOServer

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)

KNOWN_EVENTS = "subscribe, unsubscribe, command"


class Events:
    """The hub's answer to each client event: who may connect, and who may do what once connected.

    Every event of a connected client gets an ack, refusals included: a handler that returned nothing would
    leave a client's `emitWithAck` waiting forever. Each event is bound to its connection (and so to the
    identity it connected with) the moment it arrives, and admitted within the connection's budget
    (hub/transport/connections.py) before any work is done for it."""

    def __init__(
        self,
        sio: HubSocketIOServer,
        hub: Hub,
        settings: Settings,
        authenticator: Authenticator,
        refusals: RefusalLog,
        metrics: HubMetrics,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.authenticator = authenticator
        self.refusals = refusals
        self.metrics = metrics
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
            full = f"the hub is full ({settings.max_clients} clients); try again later"
            raise _refusal(TooManyClients(full))
        try:
            self.connections.admit_connect(peer)
        except RateLimited as error:
            self.refusals.note("rate_limited", peer, f"refused {sid} from {peer}: {error.message}")
            raise _refusal(error) from None
        try:
            credentials = ConnectAuth.model_validate(auth if auth is not None else {})
        except ValidationError as error:
            raise _refusal(BadRequest(f"invalid auth: {summarize(error, 'auth')}")) from None
        principal = self.authenticator.authenticate(credentials.token)
        if principal is None:
            log.warning("refused %s from %s: %s token", sid, peer, "unknown" if credentials.token else "no")
            problem = "the token is not valid" if credentials.token else "this hub needs a token"
            raise _refusal(Unauthorized(f"{problem}: connect with auth: {{token: ...}}"))
        self.connections.open(sid, principal, peer)
        hub.connect(sid, credentials.since)
        log.info(
            "client %s (%s, %s) connected from %s (%d connected)",
            sid, principal.name, principal.role, peer, len(hub.clients),
        )  # fmt: skip

    def _peer(self, sid: str) -> str:
        """The address `sid` connected from (its refusals are logged per address), or `sid` if unknown."""
        connection = self.connections.get(sid)
        return sid if connection is None else connection.address.name

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        self.connections.close(sid)
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
            self.refusals.note(kind, self._peer(sid), f"refused an event of {sid}: {error.message}")
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
            ack = await self.hub.send_command(request)
        except HubError as error:
            self.metrics.command_refused(error.code)
            self.refusals.note(
                "command_refused",
                connection.address.name,
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
        raise BadRequest(f"invalid payload: {summarize(error)}", problems) from None


def _error(error: HubError) -> dict[str, Any]:
    ack = ErrorAck(error=ErrorBody(code=error.code, message=error.message, details=error.details))
    return ack.model_dump()


def _refusal(error: HubError) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection: `connect_error` with the error's message, and its code and details as data."""
    details = error.details if isinstance(error.details, dict) else {}
    return socketio.exceptions.ConnectionRefusedError(error.message, {"code": error.code, **details})
