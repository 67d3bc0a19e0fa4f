"""hub/supervisor.py: a failing source is restarted with backoff, and an outage is reported once."""

from __future__ import annotations

import asyncio

import httpx

from hub.app import create_app
from hub.history.memory import MemoryHistory
from hub.settings import Settings
from hub.sources.base import SourceCommand, SourceEvents
from hub.templates import Templates, load_templates
from tests.fakes import TEST_TEMPLATES
from tests.support import eventually, serve


class FlakySource:
    """Runs for a moment, then cannot reach its device `failures` times (failing at once), then stays up."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0
        self.up = asyncio.Event()

    @property
    def templates(self) -> Templates:
        return load_templates(TEST_TEMPLATES)

    async def run(self, events: SourceEvents) -> None:
        self.runs += 1
        if self.runs == 1:
            await asyncio.sleep(0.05)
            raise ConnectionError("device unplugged")
        if self.runs <= 1 + self.failures:
            raise ConnectionRefusedError("device unreachable")
        self.up.set()
        await asyncio.Event().wait()

    async def execute(self, command: SourceCommand) -> None:
        raise ConnectionError("not in this test")


async def test_an_outage_is_reported_once_however_many_retries_fail() -> None:
    """Connected, then one source_disconnected for the whole outage (not one per failed retry), and
    source_connected again only once the source has stayed up; /health says down until then."""
    source = FlakySource(failures=2)
    app = create_app(Settings(templates_dir=TEST_TEMPLATES, history_url="memory://"), source, MemoryHistory())
    async with serve(app) as url:
        await source.up.wait()
        assert app.hub.supervisor.state == "down"  # running, but not for long enough yet
        await eventually(lambda: app.hub.supervisor.state == "running", within=5)
        async with httpx.AsyncClient(base_url=url) as http:
            page = (await http.get("/historical-data", params={"type": "notification"})).json()
    codes = [message["code"] for message in page["items"]]
    assert codes == ["source_connected", "source_disconnected", "source_connected"]
    assert source.runs == 4
