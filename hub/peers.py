"""The other hub processes, as the core sees them: the interface hub.cluster implements over a bus (Redis).

A hub on its own has no peers and does everything itself. With peers, exactly one process leads (runs the
source, numbers and writes every message); the others follow its stream and ask it to run their clients'
commands.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from hub.health import ClusterHealth
from hub.history import Record
from hub.history.retention import Retention
from hub.messages import CommandAck, CommandRequest, HubNotificationCode, Level
from hub.templates import Templates


class Stream(Protocol):
    """Where the leading process sends what the others follow: every message it publishes, and how far the
    log is written."""

    def record(self, record: Record) -> None:
        """A message, as it is published."""
        ...

    def written(self, seq: int) -> None:
        """The log is written up to `seq`."""
        ...


class Peers(Protocol):
    """The other hub processes. Built with this process's hub; the hub enters `joined` as it starts."""

    @property
    def leading(self) -> bool:
        """True while this process runs the source and writes the log."""
        ...

    def joined(self, retention: Retention) -> AbstractAsyncContextManager[None]:
        """Take part: follow the leader's stream, and lead whenever this process is chosen."""
        ...

    async def command(self, request: CommandRequest) -> CommandAck:
        """A follower: have the leading process run `request` (validated here already) and return its ack."""
        ...

    def notification(
        self, level: Level, code: HubNotificationCode, message: str, details: dict[str, Any]
    ) -> None:
        """A follower: have the leading process publish a notification."""
        ...

    def templates_changed(self, templates: Templates) -> None:
        """The leader: its source's templates changed; the followers' catalogs must follow."""
        ...

    def health(self) -> ClusterHealth:
        """This process's part in the cluster, for /health."""
        ...
