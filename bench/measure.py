"""The measurements: one coroutine each, starting what it needs and stopping all of it before it returns."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis import Delivery, analyze
from bench.loadgen import Loadgen
from bench.processes import ChildFailed, Children
from bench.servers import ROOT, Server, get_json, ids_for, node_heap_settled, start_hub, start_server
from bench.stall import stalled_client


@dataclass(frozen=True)
class Window:
    """Timing of a throughput step: connect, `warmup_s`, record `duration_s`, wait up to `drain_s`."""

    warmup_s: float
    duration_s: float
    drain_s: float


async def sleep_until(epoch_s: float) -> None:
    await asyncio.sleep(max(0.0, epoch_s - time.time()))


async def throughput_step(
    kind: str, clients: int, rate: float, window: Window, workdir: Path, generators: int, stalled: int = 0
) -> dict[str, Any]:
    """One rung of the ladder: `clients` subscribed to every id of the workload, `rate` messages/s offered;
    with `stalled`, that many more clients subscribe the same way and then never read (bench/stall.py)."""
    ids = ids_for(rate)
    step: dict[str, Any] = {"server": kind, "clients": clients, "offered_per_s": rate, "ids": len(ids)}
    step["generators"] = generators
    step["stalled_clients"] = stalled
    try:
        async with Children(workdir) as children, contextlib.AsyncExitStack() as stalls:
            server = await start_server(kind, children, workdir, rate, ids)
            loadgen = await Loadgen.start(children, server.url, clients, {"ids": ids}, processes=generators)
            connected = await loadgen.connected(within_s=120)
            if connected.failed:
                raise ChildFailed(f"{connected.failed} clients could not connect: {connected.errors}")
            for _ in range(stalled):
                stall = await stalled_client(server.url, ids)
                stalls.callback(stall.transport.abort)
            t0 = time.time() + window.warmup_s
            t1 = t0 + window.duration_s
            recording = asyncio.create_task(loadgen.record(t0, t1, window.drain_s))
            sampling = asyncio.create_task(sample_rss(server, t1))
            try:
                await sleep_until(t0)
                cpu0, wall0 = server.child.cpu_seconds(), time.monotonic()
                await sleep_until(t1)
                cpu1, wall1 = server.child.cpu_seconds(), time.monotonic()
                step["server_cpu"] = round((cpu1 - cpu0) / (wall1 - wall0), 3)
                step["server_rss_mb"] = round(server.child.rss_bytes() / 2**20, 1)
                step["server_rss_mb_samples"] = await sampling
                if kind == "hub":
                    step["hub_health"] = await hub_health(server.url)
                results = await recording
            finally:
                for task in (recording, sampling):  # when something above failed or was interrupted
                    task.cancel()
                await asyncio.gather(recording, sampling, return_exceptions=True)
            step["load_average_1m"] = os.getloadavg()[0]
            await loadgen.close()
    except (ChildFailed, OSError) as error:
        step["error"] = str(error)
        step["passed"] = step["complete"] = False
        return step
    delivery: Delivery = analyze(results, rate, ids, window.duration_s)
    return step | delivery.as_dict()


RSS_SAMPLE_S = 0.25


async def sample_rss(server: Server, until_epoch_s: float) -> list[float]:
    """The server's resident memory (MiB) every RSS_SAMPLE_S from now until `until_epoch_s`."""
    samples = []
    while time.time() < until_epoch_s:
        samples.append(round(server.child.rss_bytes() / 2**20, 1))
        await asyncio.sleep(RSS_SAMPLE_S)
    return samples


async def hub_health(url: str) -> dict[str, Any]:
    """The hub's /health, or why it did not answer (an overloaded hub may not, in time)."""
    try:
        return await asyncio.to_thread(get_json, f"{url}/health")
    except OSError as error:
        return {"error": f"{type(error).__name__}: {error}"}


async def settled_rss(server: Server) -> dict[str, Any]:
    """The server's resident memory; for node after a full garbage collection (Python frees by refcount)."""
    figures: dict[str, Any] = {}
    if server.kind == "node":
        said = await node_heap_settled(server)
        figures["heap_used_bytes"] = said["memory"]["heapUsed"]
    figures["rss_bytes"] = server.child.rss_bytes()
    return figures


async def idle_connections(
    kind: str, clients: int, workdir: Path, generators: int, concurrency: int, settle_s: float
) -> dict[str, Any]:
    """Memory per idle connection and connect rate: `clients` connect (at most `concurrency` handshakes in
    flight), each subscribes to one id that produces nothing; resident memory before and after."""
    result: dict[str, Any] = {"server": kind, "clients": clients, "generators": generators}
    result["concurrency"] = concurrency
    try:
        async with Children(workdir) as children:
            server = await start_server(kind, children, workdir, 0, ["bench_0"], max_clients=clients + 100)
            await asyncio.sleep(settle_s)
            before = await settled_rss(server)
            loadgen = await Loadgen.start(
                children, server.url, clients, {"ids": ["bench_0"]}, processes=generators,
                concurrency=concurrency,
            )  # fmt: skip
            connected = await loadgen.connected(within_s=900)
            cpu0, wall0 = server.child.cpu_seconds(), time.monotonic()
            await asyncio.sleep(settle_s)
            cpu1, wall1 = server.child.cpu_seconds(), time.monotonic()
            after = await settled_rss(server)
            await loadgen.close()
    except ChildFailed as error:
        return result | {"error": str(error)}
    per_connection = (after["rss_bytes"] - before["rss_bytes"]) / max(1, connected.clients)
    result |= {
        "connected": connected.clients,
        "failed": connected.failed,
        "errors": connected.errors,
        "connect_seconds": round(connected.seconds, 3),
        "connects_per_s": round(connected.rate, 1),
        "rss_before_bytes": before["rss_bytes"],
        "rss_after_bytes": after["rss_bytes"],
        "rss_per_connection_bytes": round(per_connection),
        "server_cpu_idle_connected": round((cpu1 - cpu0) / (wall1 - wall0), 4),
        "generators_rss_bytes": connected.rss_bytes,
    }
    if "heap_used_bytes" in after:
        heap = (after["heap_used_bytes"] - before["heap_used_bytes"]) / max(1, connected.clients)
        result["heap_per_connection_bytes"] = round(heap)
    return result


async def hub_idle_cpu(workdir: Path, clients: int, seconds: float, settle_s: float) -> dict[str, Any]:
    """CPU of the hub with the default templates and simulator and `clients` subscribed to everything."""
    result: dict[str, Any] = {"clients": clients, "seconds": seconds}
    try:
        async with Children(workdir) as children:
            server = await start_hub(
                children, workdir, 0, [], templates=ROOT / "templates", database=workdir / "idle-cpu.db"
            )
            loadgen = await Loadgen.start(children, server.url, clients, {"all": True})
            await loadgen.connected(within_s=60)
            await asyncio.sleep(settle_s)
            cpu0, wall0 = server.child.cpu_seconds(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, wall1 = server.child.cpu_seconds(), time.monotonic()
            result["rss_bytes"] = server.child.rss_bytes()
            await loadgen.close()
    except ChildFailed as error:
        return result | {"error": str(error)}
    return result | {"cpu_cores": round((cpu1 - cpu0) / (wall1 - wall0), 4)}


async def python_json(children: Children, name: str, args: list[str], within_s: float) -> dict[str, Any]:
    """Run `python -m bench.history ...` in the project's interpreter; its one JSON line."""
    child = await children.start(name, [sys.executable, "-m", "bench.history", *args], cwd=ROOT)
    said = await child.receive(within_s)
    await children.stop(child)
    return said


async def history_ingest(workdir: Path, points: int) -> dict[str, Any]:
    database = workdir / "ingest.db"
    try:
        async with Children(workdir) as children:
            args = ["ingest", "--path", str(database), "--points", str(points)]
            return await python_json(children, "ingest", args, within_s=600)
    except ChildFailed as error:
        return {"points": points, "error": str(error)}
    finally:
        remove_database(database)


async def history_query(workdir: Path, messages: int, requests: int) -> dict[str, Any]:
    """Build a log of `messages`, start the hub on it, time /historical-data for one id."""
    database = workdir / "large.db"
    result: dict[str, Any] = {"messages": messages}
    try:
        async with Children(workdir) as children:
            args = ["build", "--path", str(database), "--messages", str(messages)]
            result["build"] = await python_json(children, "build", args, within_s=3600)
            started = time.monotonic()
            templates = ROOT / "templates"
            server = await start_hub(children, workdir, 0, [], templates=templates, database=database)
            result["hub_start_s"] = round(time.monotonic() - started, 2)
            args = ["query", "--url", server.url, "--count", str(requests)]
            result["query"] = await python_json(children, "query", args, within_s=600)
    except ChildFailed as error:
        result["error"] = str(error)
    finally:
        remove_database(database)
    return result


def remove_database(database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
