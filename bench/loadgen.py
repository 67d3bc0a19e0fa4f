"""Drives bench/loadgen.mjs: N socket.io-client connections spread over one or more Node processes.

All processes record the same window (absolute times chosen here), so their results merge into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import Child, Children

BENCH = Path(__file__).resolve().parent
LOADGEN = BENCH / "loadgen.mjs"
CLOSE_WITHIN_S = 15.0
"""How long a generator may take to disconnect its clients and exit before it is stopped by signal."""


@dataclass
class Connected:
    """What the processes reported once every client had connected and subscribed (or failed)."""

    clients: int
    failed: int
    errors: list[str]
    seconds: float
    """From the first connection attempt of any process to the last subscribe ack of any process."""
    rss_bytes: int
    """Resident memory of the load generators, together."""

    @property
    def rate(self) -> float:
        return self.clients / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Loadgen:
    children: Children
    processes: list[Child] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        children: Children,
        url: str | Sequence[str],
        clients: int,
        subscribe: Mapping[str, Any],
        *,
        processes: int = 1,
        concurrency: int = 100,
    ) -> Loadgen:
        """Start `processes` generators sharing `clients` and `concurrency` (handshakes in flight) evenly.
        With several URLs (the processes of one scaled-out hub), client number i of all of them connects to
        url[i % len(url)], so each server gets its share whatever the number of generator processes."""
        loadgen = cls(children)
        urls = [url] if isinstance(url, str) else list(url)
        processes = max(1, min(processes, clients))
        first = 0  # the number of this process's first client among all
        for n in range(processes):
            share = clients // processes + (1 if n < clients % processes else 0)
            turn = first % len(urls)  # its first client goes to url[turn], the next to the next one
            first += share
            argv = ["node", str(LOADGEN), "--url", ",".join(urls[turn:] + urls[:turn])]
            argv += ["--clients", str(share)]
            argv += ["--subscribe", json.dumps(subscribe)]
            argv += ["--concurrency", str(max(1, concurrency // processes))]
            loadgen.processes.append(await children.start("loadgen", argv, cwd=BENCH))
        return loadgen

    async def connected(self, within_s: float) -> Connected:
        ready = await asyncio.gather(*(child.receive(within_s) for child in self.processes))
        for child, said in zip(self.processes, ready, strict=True):
            if said.get("event") != "ready":
                raise child.failure(f"expected the ready line, got {said}")
        return Connected(
            clients=sum(r["connected"] for r in ready),
            failed=sum(r["failed"] for r in ready),
            errors=sorted({e for r in ready for e in r["errors"]}),
            seconds=(max(r["finished_ms"] for r in ready) - min(r["started_ms"] for r in ready)) / 1000,
            rss_bytes=int(sum(r["rss_mb"] for r in ready) * 2**20),
        )

    async def record(self, t0: float, t1: float, drain_s: float) -> list[dict[str, Any]]:
        """Record the window [t0, t1) (epoch seconds); return each process's result once all are done."""
        command = {"command": "record", "t0": t0 * 1000, "t1": t1 * 1000, "drain_s": drain_s}
        for child in self.processes:
            await child.send(command)
        within_s = t1 - time.time() + drain_s + 60
        results = await asyncio.gather(*(child.receive(within_s) for child in self.processes))
        for child, said in zip(self.processes, results, strict=True):
            if said.get("event") != "result":
                raise child.failure(f"expected the result line, got {said}")
        return results

    async def close(self) -> None:
        """Disconnect every client and let the processes exit."""
        for child in self.processes:
            if child.process.returncode is None:
                await child.send({"command": "close"})
        for child in self.processes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.process.wait(), CLOSE_WITHIN_S)
            await self.children.stop(child)
