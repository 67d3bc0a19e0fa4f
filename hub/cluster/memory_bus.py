"""The bus in memory: several processes of one test share a `MemoryNetwork`, each through its own bus.

It behaves as the Redis bus does where the cluster depends on it: a message reaches every other process that
has opened its bus, in order, as a copy (JSON, as over the wire); leases expire by the network's clock unless
renewed by their holder. A test can cut one process off (`isolate`): every call of its bus then raises
BusError and no message reaches it, as when Redis is out of its reach.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from hub.cluster.bus import BusError
from hub.cluster.clock import SYSTEM_CLOCK, Clock


class MemoryNetwork:
    """The shared part: values, counters, leases with their expiry, and the buses that receive."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.values: dict[str, str] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        """Lease key -> (holder, when it expires on `clock`)."""
        self._listening: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._isolated: set[str] = set()

    def bus(self, process: str) -> MemoryBus:
        """The bus of the process named `process`."""
        return MemoryBus(self, process)

    def isolate(self, process: str) -> None:
        """Cut `process` off: its calls fail and it receives nothing until `reconnect`."""
        self._isolated.add(process)

    def reconnect(self, process: str) -> None:
        self._isolated.discard(process)

    def holder(self, key: str) -> str | None:
        """Who holds the lease `key` now, if anyone."""
        held = self.leases.get(key)
        return None if held is None or held[1] <= self.clock.monotonic() else held[0]

    def check(self, process: str) -> None:
        """Raise BusError if `process` is cut off."""
        if process in self._isolated:
            raise BusError(f"process {process} is cut off from the bus")

    def inbox(self, process: str) -> asyncio.Queue[dict[str, Any]]:
        """The messages for `process`, from the first time it asks on."""
        return self._listening.setdefault(process, asyncio.Queue())

    def leave(self, process: str) -> None:
        """`process` receives nothing more."""
        self._listening.pop(process, None)

    def deliver(self, sender: str, message: dict[str, Any]) -> None:
        """A copy of `message` to every other process that listens and is not cut off."""
        text = json.dumps(message)
        for process, inbox in self._listening.items():
            if process != sender and process not in self._isolated:
                inbox.put_nowait(json.loads(text))


class MemoryBus:
    """One process's `Bus` on a `MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, process: str) -> None:
        self.network = network
        self._process = process

    @property
    def process(self) -> str:
        return self._process

    async def open(self) -> None:
        self.network.check(self._process)
        self.network.inbox(self._process)

    async def received(self) -> AsyncIterator[dict[str, Any]]:
        inbox = self.network.inbox(self._process)
        while True:
            yield await inbox.get()

    async def publish(self, message: dict[str, Any]) -> None:
        self.network.check(self._process)
        self.network.deliver(self._process, message)

    async def get(self, key: str) -> str | None:
        self.network.check(self._process)
        return self.network.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.network.check(self._process)
        self.network.values[key] = value

    async def increment(self, key: str) -> int:
        self.network.check(self._process)
        value = int(self.network.values.get(key, "0")) + 1
        self.network.values[key] = str(value)
        return value

    async def acquire(self, key: str, ttl_s: float) -> bool:
        self.network.check(self._process)
        if self.network.holder(key) not in (None, self._process):
            return False
        self.network.leases[key] = (self._process, self.network.clock.monotonic() + ttl_s)
        return True

    async def renew(self, key: str, ttl_s: float) -> bool:
        self.network.check(self._process)
        if self.network.holder(key) != self._process:
            return False
        self.network.leases[key] = (self._process, self.network.clock.monotonic() + ttl_s)
        return True

    async def release(self, key: str) -> bool:
        self.network.check(self._process)
        if self.network.holder(key) != self._process:
            return False
        del self.network.leases[key]
        return True

    async def close(self) -> None:
        self.network.leave(self._process)
