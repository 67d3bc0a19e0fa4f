"""The hub of this process and its log, as the cluster sees them: two small protocols that `hub.core.Hub` and
`hub.history.HistoryLog` implement, so that the cluster never depends on the concrete hub."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from hub.history import Query, Record
from hub.history.retention import Retention
from hub.messages import CommandAck, CommandRequest, HubNotificationCode, Level
from hub.peers import Stream
from hub.templates import Templates


class Member(Protocol):
    """The hub of this process: what it serves, what it is told of the leader, and leading when chosen."""

    @property
    def templates(self) -> Templates:
        """The templates the catalog holds now."""
        ...

    def adopt(self, templates: Templates) -> object:
        """Take the leading process's templates as the catalog."""
        ...

    def follow(self, record: Record) -> None:
        """A message of the leading process's stream: log it as received and deliver it."""
        ...

    def leading(
        self, retention: Retention, takeover: bool = False, stream: Stream | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Lead while inside: take the log over from the previous leader, run the source, and hand every
        message and the log's written mark to `stream`."""
        ...

    def notify(
        self, level: Level, code: HubNotificationCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        """Publish one of the hub's notifications (as the leader)."""
        ...

    async def send_command(self, request: CommandRequest) -> CommandAck:
        """Run a command (as the leader, for a follower's client)."""
        ...


class SharedLog(Protocol):
    """The history log that every process reads and only the leader writes."""

    @property
    def last_seq(self) -> int:
        """The seq of the last message numbered or received."""
        ...

    @property
    def writing(self) -> bool:
        """True while this process writes the log."""
        ...

    def written(self, seq: int) -> None:
        """The leader has written everything up to `seq`."""
        ...

    def missed(self) -> None:
        """This process missed part of the leader's stream."""
        ...

    async def written_up_to(self, seq: int) -> None:
        """Return once the leader has reported everything up to `seq` written."""
        ...

    async def query(self, query: Query) -> list[Record]: ...

    async def flush(self) -> None:
        """Write what is not written yet."""
        ...

    async def step_down(self) -> None:
        """Stop writing, after writing what is left."""
        ...
