"""The hub's exceptions.

Each error a client can cause carries a `code` from a closed set; the Socket.IO layer turns it into an
`{"ok": false, "error": {...}}` ack and the HTTP layer into a 4xx, in one place each.
"""

from __future__ import annotations

from typing import Any, Literal

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
]


class HubError(Exception):
    """Base of every error the hub reports to a client."""

    code: ErrorCode = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


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
    code = "forbidden"


class RateLimited(HubError):
    code = "rate_limited"


class ConfigurationError(Exception):
    """A settings or template problem that stops start-up; the message names the file or setting and field."""
