"""What the hub processes share, as the cluster needs it: a `Bus` (Redis in production, in
hub/cluster/redis_bus.py; in memory for tests, in hub/cluster/memory_bus.py).

Like broadcaster's backends, a bus does few things: it carries messages to the other processes, keeps a few
named values (the templates, the term counter), and holds leases that expire unless renewed (who leads).
Keys are the bus's own names; each implementation scopes them to its channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class BusError(Exception):
    """The bus cannot be reached now (Redis down, the network cut); the call may be tried again."""


class Bus(Protocol):
    """The channel and the shared state of the hub processes. Every call but `received` may raise BusError."""

    @property
    def process(self) -> str:
        """This process's name among the others."""
        ...

    async def open(self) -> None:
        """Start receiving the other processes' messages."""
        ...

    def received(self) -> AsyncIterator[dict[str, Any]]:
        """The other processes' messages, in the order they arrived, from `open` on (one consumer)."""
        ...

    async def publish(self, message: dict[str, Any]) -> None:
        """Send `message` (JSON-able) to every other process."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...

    async def increment(self, key: str) -> int:
        """Add one to the counter `key` (0 if it never was) and return it."""
        ...

    async def acquire(self, key: str, ttl_s: float) -> bool:
        """Take the lease `key` for `ttl_s` if nobody holds it; True if this process holds it now."""
        ...

    async def renew(self, key: str, ttl_s: float) -> bool:
        """Hold the lease `key` `ttl_s` longer; False if this process no longer holds it."""
        ...

    async def release(self, key: str) -> bool:
        """Give the lease `key` up now; False if this process did not hold it."""
        ...

    async def close(self) -> None: ...
