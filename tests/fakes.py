"""Hand-written fakes: a source that produces what a test tells it to and records the commands it gets."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from hub.history import Query, Record
from hub.history.base import Marks
from hub.history.memory import MemoryHistory
from hub.messages import Level
from hub.sources.base import SourceCommand, SourceEvents, SourceStatus
from hub.templates import Templates, Value, load_templates

TEST_TEMPLATES = Path(__file__).parent / "templates"


class FakeSource:
    """A source driven by the test: `emit` produces a value, `confirm` answers a command.

    Commands named in `auto` are answered at once with `executing` and the given terminal status."""

    name = "fake"

    def __init__(self, templates: Templates | None = None) -> None:
        self._templates = templates or load_templates(TEST_TEMPLATES)
        self.events: SourceEvents | None = None
        self.commands: list[SourceCommand] = []
        self.command_arrived = asyncio.Event()
        self.started = asyncio.Event()
        self.auto: dict[str, tuple[SourceStatus, str]] = {}
        self.fail_with: Exception | None = None
        self._stop: asyncio.Future[None] | None = None

    @property
    def templates(self) -> Templates:
        return self._templates

    async def run(self, events: SourceEvents) -> None:
        self.events = events
        self._stop = asyncio.get_running_loop().create_future()
        self.started.set()
        await self._stop

    def crash(self, error: Exception) -> None:
        """Make `run` raise, as a source that lost its device would."""
        assert self._stop is not None
        self._stop.set_exception(error)

    async def execute(self, command: SourceCommand) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.commands.append(command)
        self.command_arrived.set()
        if command.command in self.auto:
            status, message = self.auto[command.command]
            self.confirm(command.command_id, "executing", "started")
            self.confirm(command.command_id, status, message)

    def emit(self, id: str, value: Value, timestamp: float) -> None:
        assert self.events is not None, "the hub has not started the source"
        self.events.telemetry(id, value, timestamp)

    def confirm(self, command_id: str, status: SourceStatus, message: str) -> None:
        assert self.events is not None
        self.events.confirmation(command_id, status, message)

    def notify(self, level: Level, code: str, message: str) -> None:
        assert self.events is not None
        self.events.notification(level, code, message)

    async def next_command(self) -> SourceCommand:
        await self.command_arrived.wait()
        self.command_arrived.clear()
        return self.commands[-1]


class UnwritableHistory(MemoryHistory):
    """A log on a disk that has failed: every write raises."""

    broken = True

    async def write(self, records: Sequence[Record], marks: Marks) -> None:
        if records and self.broken:
            raise OSError("no space left on device")
        await super().write(records, marks)


class UnreadableHistory(MemoryHistory):
    """A log whose storage fails on every read."""

    async def query(self, query: Query) -> list[Record]:
        raise OSError("disk I/O error")


class RecordingTransport:
    """A transport that records what the fan-out hands it: each message with the clients it skips, and each
    message, join and leave for one client.

    `pause` holds deliveries (the fan-out waits in the one it has taken) until `resume`; a delivery of a seq
    in `failing` raises, as a transport whose connection broke would."""

    def __init__(self) -> None:
        self.delivered: list[tuple[Record, frozenset[str]]] = []
        self.sent: list[tuple[str, str, str]] = []
        self.rooms: list[tuple[str, str, tuple[str, ...]]] = []
        self.failing: set[int] = set()
        self._open = asyncio.Event()
        self._open.set()

    @property
    def seqs(self) -> list[int]:
        """The seqs delivered so far, in delivery order."""
        return [record.seq for record, _ in self.delivered]

    def pause(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    async def deliver(self, record: Record, skip: Collection[str]) -> None:
        await self._open.wait()
        if record.seq in self.failing:
            raise ConnectionResetError(f"delivering seq {record.seq}")
        self.delivered.append((record, frozenset(skip)))  # a copy: the fan-out's held set changes later

    async def send(self, client: str, event: str, text: str) -> None:
        self.sent.append((client, event, text))

    async def join(self, client: str, ids: Iterable[str]) -> None:
        self.rooms.append(("join", client, tuple(ids)))

    async def leave(self, client: str, ids: Iterable[str]) -> None:
        self.rooms.append(("leave", client, tuple(ids)))
