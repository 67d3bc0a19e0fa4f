"""Fixtures: a hub with a fake source served by real uvicorn, and real Socket.IO clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.app import create_app
from hub.core import Hub
from hub.history import HistoryBackend
from hub.history.memory import MemoryHistory
from hub.metrics import HubMetrics
from hub.settings import Settings
from tests.backends import BACKENDS, Store
from tests.fakes import TEST_TEMPLATES, FakeSource
from tests.support import Client, serve

ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture
def source() -> FakeSource:
    """The fake source of the hub under test, for the test to drive."""
    return FakeSource()


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """The usual test settings; a test changes some with indirect parametrization (a dict of fields)."""
    changes = getattr(request, "param", {})
    return Settings(templates_dir=TEST_TEMPLATES, history_url="memory://", admin_token=ADMIN_TOKEN, **changes)


class RunningHub:
    def __init__(self, url: str, hub: Hub, metrics: HubMetrics, source: FakeSource) -> None:
        self.url = url
        self.hub = hub
        self.metrics = metrics
        self.source = source
        self._clients: list[Client] = []

    async def client(self, **kwargs: Any) -> Client:
        client = await Client().connect(self.url, **kwargs)
        self._clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self._clients:
            await client.close()


@pytest.fixture
def history() -> HistoryBackend:
    """The history backend of `running`; test modules may override this fixture to try every backend
    (`return store()`)."""
    return MemoryHistory()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each history backend in turn (PostgreSQL skips when no server answers)."""
    created = await Store.create(request.param, tmp_path)
    try:
        yield created
    finally:
        await created.dispose()


@pytest.fixture
async def running(
    source: FakeSource, settings: Settings, history: HistoryBackend
) -> AsyncIterator[RunningHub]:
    """A hub with the fake source and the `history` backend, on a free port, its source started."""
    app = create_app(settings, source=source, history=history)
    async with serve(app) as url:
        await source.started.wait()
        running = RunningHub(url, app.hub, app.metrics, source)
        try:
            yield running
        finally:
            await running.close_clients()


@pytest.fixture
def clock() -> Callable[[], float]:
    """Timestamps for fake telemetry: strictly increasing, a millisecond apart, starting at a fixed time."""
    state = {"t": 1_800_000_000.0}

    def tick() -> float:
        state["t"] += 0.001
        return state["t"]

    return tick
