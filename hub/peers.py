"""The other hub processes, as the core sees them: the interface hub.cluster implements over Redis.

A hub on its own has no peers and does everything itself. With peers, exactly one process leads (runs the
source, numbers and writes every message); the others follow its stream and ask it to run their clients'
commands.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from hub.messages import CommandAck, CommandRequest, Level
from hub.templates import Templates

if TYPE_CHECKING:
    from hub.core import Hub


class Peers(Protocol):
    @property
    def leading(self) -> bool:
        """True while this process runs the source and writes the log."""
        ...

    def joined(self, hub: Hub, retention_s: float | None) -> AbstractAsyncContextManager[None]:
        """Take part: follow the leader's stream, and lead (`hub.leading`) whenever this process is chosen."""
        ...

    async def command(self, request: CommandRequest) -> CommandAck:
        """A follower: have the leading process run `request` (validated here already) and return its ack."""
        ...

    def notification(self, level: Level, code: str, message: str, details: dict[str, Any]) -> None:
        """A follower: have the leading process publish a notification."""
        ...

    def templates_changed(self, templates: Templates) -> None:
        """The leader: its source's templates changed; the followers' catalogs must follow."""
        ...

    def health(self) -> dict[str, Any]: ...
