"""The wire contract: pydantic models of every Socket.IO message, request and ack.

Server-to-client messages carry `type`, `timestamp` (ISO 8601 UTC with `Z`, microseconds) and `seq` (assigned
as the message enters the log). Client payloads are validated here once, with unknown keys refused.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from hub.errors import ErrorCode
from hub.templates import Value

MessageType = Literal["data", "confirmation", "notification"]
MESSAGE_TYPES: tuple[MessageType, ...] = get_args(MessageType)
SourceStatus = Literal["executing", "completed", "failed"]
"""What a source reports of a command it executes: `executing`, then `completed` or `failed`."""
CommandStatus = Literal["accepted", SourceStatus, "timeout"]
"""A command's life: the hub's `accepted`, the source's statuses, or the hub's `timeout`."""
TerminalStatus = Literal["completed", "failed", "timeout"]
TERMINAL_STATUSES: frozenset[str] = frozenset(get_args(TerminalStatus))
Level = Literal["info", "warning", "critical"]
HubNotificationCode = Literal[
    "limit_warning",
    "limit_critical",
    "limit_nominal",
    "templates_changed",
    "templates_conflict",
    "source_connected",
    "source_disconnected",
    "source_overrun",
    "device_online",
    "device_offline",
    "device_message_rejected",
    "late_confirmation",
    "unexpected_confirmation",
    "client_too_slow",
    "leader_changed",
]
"""The notification codes the hub (and the simulator it ships) publishes itself. Any other code is a
source's own; a device may not send one of these (hub/sources/mqtt/source.py refuses it)."""

MAX_LIST_LENGTH = 1000
"""Longest `ids`/`groups` list a subscription request may carry (bounded work per request)."""

Name = Annotated[str, Field(min_length=1, max_length=128)]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_timestamp(time_us: int) -> str:
    """`2026-11-27T03:30:09.123456Z` (ISO 8601, UTC, microseconds) for microseconds since the epoch.

    On the hot paths (every data message, every point read back from the compact log): the text up to the
    second is formatted once per second and cached, so most calls only add the microseconds."""
    seconds, micros = divmod(time_us, 1_000_000)
    return f"{_up_to_the_second(seconds)}.{micros:06d}Z"


@functools.lru_cache(maxsize=4096)
def _up_to_the_second(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def to_micros(epoch_s: float) -> int:
    return round(epoch_s * 1_000_000)


class _Strict(BaseModel):
    # strict: a client's "true" or 1 is not a boolean, and 5 is not a string
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- server to client -------------------------------------------------------------------------------


class DataMessage(_Strict):
    """A telemetry value, sent to the clients subscribed to its `id` (room `telemetry:<id>`)."""

    type: Literal["data"] = "data"
    id: str
    value: Value
    timestamp: str
    seq: int


class Confirmation(_Strict):
    """A step of a command's life, sent to every connected client. `parameters` is only in `accepted`."""

    type: Literal["confirmation"] = "confirmation"
    command_id: str
    command: str
    request_id: str | None = None
    status: CommandStatus
    message: str
    parameters: dict[str, Value] | None = None
    timestamp: str
    seq: int


class Notification(_Strict):
    """Something operators should know (limit transitions, source state, late confirmations), sent to all."""

    type: Literal["notification"] = "notification"
    level: Level
    code: str
    message: str
    id: str | None = None
    details: dict[str, Any] | None = None
    timestamp: str
    seq: int


Message = DataMessage | Confirmation | Notification


# --- client to server -------------------------------------------------------------------------------


class SubscriptionRequest(_Strict):
    """Payload of `subscribe` and `unsubscribe`: ids, groups, all, in any combination."""

    ids: list[Name] = Field(default_factory=list, max_length=MAX_LIST_LENGTH)
    groups: list[Name] = Field(default_factory=list, max_length=MAX_LIST_LENGTH)
    all: bool = False
    since: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        description="subscribe only: replay what the newly subscribed ids missed after this seq.",
    )


class ConnectAuth(_Strict):
    """The Socket.IO `auth` object a client may send when it connects."""

    token: Annotated[str, Field(max_length=512)] | None = Field(None, description="Bearer token with a role.")
    since: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        description="Resume: no broadcasts until the first subscribe, which replays all missed after it.",
    )


class CommandRequest(_Strict):
    """Payload of `command`. Parameters are checked against the command's template, not here."""

    type: Literal["command"] = "command"
    command: Name
    parameters: dict[str, Any] = Field(default_factory=dict)
    request_id: Annotated[str, Field(max_length=128)] | None = None


# --- acks -------------------------------------------------------------------------------------------


class ErrorBody(_Strict):
    code: ErrorCode
    message: str
    details: Any = None


class ErrorAck(_Strict):
    ok: Literal[False] = False
    error: ErrorBody


class SubscribeAck(_Strict):
    ok: Literal[True] = True
    subscribed: list[str] = Field(description="The client's whole subscription set after the call, sorted.")
    replayed: int | None = Field(None, description="With `since`: how many messages were replayed.")
    recovered: bool | None = Field(None, description="With `since`: false when the gap could not be filled.")
    reason: str | None = Field(None, description="Why the gap could not be filled; reload from the history.")


class UnsubscribeAck(_Strict):
    ok: Literal[True] = True
    unsubscribed: list[str]
    subscribed: list[str]


class CommandAck(_Strict):
    ok: Literal[True] = True
    command_id: str
    status: Literal["accepted"] = "accepted"
    request_id: str | None = None
    seq: int = Field(description="The seq of the command's `accepted` confirmation in the log.")
