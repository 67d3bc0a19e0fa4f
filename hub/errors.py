"""The hub's exceptions, and the one vocabulary of error codes a client sees.

Each error a client can cause carries a `code` from a closed set, `ErrorCode`. The Socket.IO layer turns it
into an `{"ok": false, "error": {...}}` ack (or a `connect_error`'s data), and the web layer into an HTTP
problem with the same `code` and the status hub/web/problems.py maps it to: in one place each.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError

ErrorCode = Literal[
    "bad_request",
    "unknown_event",
    "unknown_telemetry_type",
    "unknown_command",
    "invalid_parameters",
    "source_unavailable",
    "forbidden",
    "rate_limited",
    "internal_error",
    "unauthorized",
    "too_many_clients",
    "history_unavailable",
]
"""Every code the hub refuses a client with: in acks, connection refusals and HTTP problems alike."""


class HubError(Exception):
    """Base of every error the hub reports to a client.

    `details` go into an ack as they are. `parameter` names the request parameter at fault, where one is
    (an HTTP problem names it in its `detail`)."""

    code: ErrorCode = "internal_error"

    def __init__(self, message: str, details: Any = None, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.parameter = parameter


class BadRequest(HubError):
    code = "bad_request"


class UnknownEvent(HubError):
    code = "unknown_event"


class UnknownTelemetryType(HubError):
    code = "unknown_telemetry_type"


class UnknownCommand(HubError):
    code = "unknown_command"


class InvalidParameters(HubError):
    code = "invalid_parameters"


class SourceUnavailable(HubError):
    code = "source_unavailable"


class Forbidden(HubError):
    """The client is known, but its role does not allow this (or nothing may do it: no admin exists)."""

    code = "forbidden"


class RateLimited(HubError):
    code = "rate_limited"


class Unauthorized(HubError):
    """No token where one is needed, or a token the hub does not know."""

    code = "unauthorized"


class TooManyClients(HubError):
    code = "too_many_clients"


class HistoryUnavailable(HubError):
    """The history log cannot be read or changed right now (a full disk, a database away); try again."""

    code = "history_unavailable"


class ConfigurationError(Exception):
    """A settings or template problem that stops start-up; the message names the file or setting and field."""


def summarize(error: ValidationError, whole: str = "payload", most: int | None = None) -> str:
    """A pydantic error in one line, `field.path: problem; ...`, for a message to a person.

    `whole` names what a problem of no field is about (the payload, the file); with `most`, at most that many
    problems are listed, and how many more there are."""
    problems = [
        f"{'.'.join(map(str, p['loc'])) or whole}: {p['msg'].removeprefix('Value error, ')}"
        for p in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    if most is not None and len(problems) > most:
        return "; ".join(problems[:most]) + f"; and {len(problems) - most} more"
    return "; ".join(problems)
