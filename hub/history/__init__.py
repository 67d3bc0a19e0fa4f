"""The durable log of every message: a backend chosen by URL, behind `HistoryLog`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hub.errors import ConfigurationError
from hub.history.base import HistoryBackend, Query, Record
from hub.history.log import HistoryLog

__all__ = ["HistoryBackend", "HistoryLog", "Query", "Record", "open_backend"]


def open_backend(url: str) -> HistoryBackend:
    """Pick the backend from the URL scheme, importing only the one selected."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise ConfigurationError(
                f"HUB_HISTORY_URL={url!r}: a SQLite URL needs a path, e.g. sqlite:///data/history.db"
            )
        import sqlite3

        from hub.history.sqlite import SqliteHistory

        backend = SqliteHistory(Path(path))
        try:
            backend.check()
        except (OSError, sqlite3.Error) as error:
            raise ConfigurationError(f"HUB_HISTORY_URL={url!r}: cannot use {path}: {error}") from None
        return backend
    if scheme == "memory":
        from hub.history.memory import MemoryHistory

        return MemoryHistory()
    raise ConfigurationError(
        f"HUB_HISTORY_URL={url!r}: unknown scheme {scheme!r}; use sqlite:///path/to/file.db or memory://"
    )
