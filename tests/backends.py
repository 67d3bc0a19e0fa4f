"""Every history backend for tests, each over a fresh, empty store of its own.

PostgreSQL is the server at `HUB_TEST_POSTGRES_URL` (default: the local one, trust auth, database `test`);
each store is a schema of its own, dropped afterwards. Where no server answers, those tests skip.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg
import pytest

from hub.history import HistoryBackend
from hub.history.base import Marks
from hub.history.memory import MemoryHistory
from hub.history.postgres import PostgresHistory
from hub.history.sqlite import SqliteHistory

BACKENDS = ("memory", "sqlite", "postgres")
POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_unreachable: dict[str, str | None] = {}


async def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None; asked once per test session."""
    if POSTGRES_URL not in _unreachable:
        try:
            connection = await asyncpg.connect(POSTGRES_URL, timeout=3)
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            _unreachable[POSTGRES_URL] = f"{type(error).__name__}: {error}"
        else:
            await connection.close()
            _unreachable[POSTGRES_URL] = None
    return _unreachable[POSTGRES_URL]


class Store:
    """One backend's storage. Calling it gives a new backend object over the same data, as a restarted hub
    (or another hub process) would open it."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "sub" / "history.db"
        self.schema = f"hub_test_{uuid.uuid4().hex[:12]}"
        self._memory = MemoryHistory()
        self._opened: list[PostgresHistory] = []

    @classmethod
    async def create(cls, kind: str, tmp_path: Path) -> Store:
        if kind == "postgres" and (problem := await postgres_problem()) is not None:
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
        return cls(kind, tmp_path)

    def __call__(self) -> HistoryBackend:
        if self.kind == "memory":
            return self._memory
        if self.kind == "sqlite":
            return SqliteHistory(self.path)
        backend = PostgresHistory(POSTGRES_URL, schema=self.schema)
        self._opened.append(backend)
        return backend

    async def dispose(self) -> None:
        """Close what a test left open (a simulated crash never closes) and drop the schema."""
        if self.kind != "postgres":
            return
        for backend in self._opened:
            await backend.close(Marks())
        connection = await asyncpg.connect(POSTGRES_URL, timeout=10)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await connection.close()
