"""The durable log of every message: a backend chosen by URL, behind `HistoryLog`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hub.errors import ConfigurationError
from hub.history import tiers
from hub.history.base import HistoryBackend, Query, Record
from hub.history.log import HistoryLog
from hub.history.tiers import Tier

__all__ = ["HistoryBackend", "HistoryLog", "Query", "Record", "open_backend"]


def open_backend(url: str, rollups: tuple[Tier, ...] | None = None) -> HistoryBackend:
    """Pick the backend from the URL scheme, importing only the one selected. `rollups`: the tiers it keeps
    (by default those of `tiers.DEFAULT`)."""
    rollups = tiers.parse(tiers.DEFAULT) if rollups is None else rollups
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://").removeprefix("/")
        if not path:
            raise ConfigurationError(
                f"HUB_HISTORY_URL={url!r}: a SQLite URL needs a path, e.g. sqlite:///data/history.db"
            )
        import sqlite3

        from hub.history.sqlite import SqliteHistory

        backend = SqliteHistory(Path(path), rollups)
        try:
            backend.check()
        except (OSError, sqlite3.Error) as error:
            raise ConfigurationError(f"HUB_HISTORY_URL={url!r}: cannot use {path}: {error}") from None
        return backend
    if scheme in ("postgresql", "postgres"):
        return _open_postgres(url, rollups)
    if scheme == "memory":
        from hub.history.memory import MemoryHistory

        return MemoryHistory(rollups)
    raise ConfigurationError(
        f"HUB_HISTORY_URL={url!r}: unknown scheme {scheme!r}; use sqlite:///path/to/file.db, "
        "postgresql://user@host:port/database or memory://"
    )


def _open_postgres(url: str, rollups: tuple[Tier, ...]) -> HistoryBackend:
    """A PostgreSQL backend whose server was reached and whose tables exist, or a ConfigurationError."""
    parts = urlsplit(url)
    shown = _without_password(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    database = parts.path.removeprefix("/")
    if port == -1 or not database or "/" in database:
        raise ConfigurationError(
            f"HUB_HISTORY_URL={shown!r}: not a PostgreSQL URL; use postgresql://user@host:port/database"
        )
    import asyncpg

    from hub.history.postgres import PostgresHistory

    backend = PostgresHistory(url, rollups)
    try:
        backend.check()
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        where = f"{parts.hostname or 'localhost'}:{port or 5432}/{database}"
        raise ConfigurationError(
            f"HUB_HISTORY_URL={shown!r}: cannot use the PostgreSQL database {where}: "
            f"{type(error).__name__}: {error}"
        ) from None
    return backend


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
