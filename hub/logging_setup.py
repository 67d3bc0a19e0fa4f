"""Logging set-up: one line per event on stderr, readable text or one JSON object (HUB_LOG_FORMAT).

Everything the process writes to stderr goes through one handler and one of the two formatters here, so
what they guarantee holds for every line, the libraries' included:

- one record is one line (plus, in text, its traceback): a message's control characters are escaped, so
  a client-chosen string (a command name with a newline) cannot forge a line;
- no credential in a URL reaches the log: the value of a query parameter whose name contains `token`,
  `auth`, `pass`, `secret` or `key` (`?token=`, `access_token`, `api_key`, `password`) becomes
  `[redacted]`, wherever the URL appears (uvicorn's access and websocket lines, a traceback).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

log = logging.getLogger(__name__)

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

LIBRARY_LOGGERS = ("socketio.server", "engineio.server")
"""python-socketio and python-engineio give these loggers a plain-text handler of their own unless they have
a level when a server is created; `configure` sets one first (errors only, as the libraries do: their info
lines are one per packet) and removes any handler already there, so their records reach the hub's."""

_ESCAPES: dict[int, str] = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
_CREDENTIAL = re.compile(r"([?&][^=&#\s\"']*(?:token|auth|pass|secret|key)[^=&#\s\"']*=)[^&#\s\"']*", re.I)


def escape(text: str) -> str:
    """`text` on one line: C0 and C1 control characters, DEL and the Unicode line separators as escapes."""
    return text.translate(_ESCAPES)


def redact(text: str) -> str:
    """`text` with the value of every query parameter that may carry a credential replaced by `[redacted]`."""
    return _CREDENTIAL.sub(r"\1[redacted]", text) if "=" in text else text


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT` lines, the message escaped (the traceback after it keeps its own lines), redacted."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:  # the line; format() appends the traceback
        return escape(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `timestamp` (ISO 8601 UTC with microseconds and `Z`, as in
    the hub's messages), `level`, `logger`, `message`, and `exception` (its traceback as text) or `stack`
    when the record has one. Newlines inside a message or traceback are escaped, so a record never spans
    two lines; credentials in URLs are redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=str).decode()


def configure(level: str, format: str = "text") -> None:
    """Log at `level` and above to stderr, as `text` or `json`. uvicorn's loggers propagate here (main.py
    gives uvicorn no log config of its own), python-socketio's and python-engineio's too (LIBRARY_LOGGERS),
    and so do Python's warnings and uncaught exceptions, which would otherwise be written as plain text."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.setLevel(max(logging.ERROR, logging.getLogger().level))
        for own in list(library.handlers):
            library.removeHandler(own)
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    sys.unraisablehook = _unraisable


def _uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    log.critical("uncaught exception", exc_info=(kind, error, traceback))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is not SystemExit:  # as Python's own hook: a thread may end itself that way
        thread = args.thread.name if args.thread is not None else "?"
        log.error("uncaught exception in thread %s", thread, exc_info=args.exc_value)


def _unraisable(args: sys.UnraisableHookArgs) -> None:
    log.error("%s: %r", args.err_msg or "Exception ignored in", args.object, exc_info=args.exc_value)
