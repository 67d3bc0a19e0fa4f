"""The scale-out part: two hub processes sharing Redis against one, on the throughput ladder's workload.

Both configurations log to PostgreSQL (a fresh schema per step), so that the only difference is the
scale-out: "1 process" is one `main.py` without Redis; "2 processes" are a leader (simulator, numbering,
log, one publish per batch on Redis) and a follower (its own fan-out of what it reads from Redis), with a
fresh Redis channel per step and the clients spread half on each. They climb the offered rates side by
side with the ladder's rules (bench/climb.py) and completeness (bench/analysis.py): every client must get
every message, in seq order, whichever process it is connected to. bench/README.md says what each figure
means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench import climb, report
from bench.analysis import analyze
from bench.loadgen import Loadgen
from bench.measure import Window, hub_health, sleep_until
from bench.processes import ChildFailed, Children, cpu_seconds_of, machine_ticks, pids_named
from bench.servers import Server, ids_for, start_hub

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONFIGURATIONS = {"1 process": 1, "2 processes": 2}
"""Configuration name -> hub processes."""
DEFAULT_RATES = (500, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000, 10_000, 15_000, 20_000)
CONNECT_S = 3.0
"""How long the reachability check waits for Redis and for PostgreSQL."""


async def scale_out(options: argparse.Namespace, workdir: Path, entry: dict[str, Any]) -> None:
    """Both configurations climb --scale-rates with --scale-clients; fills `entry` as it goes, or with
    {"skipped": reason} when the hub is not measured or Redis or PostgreSQL does not answer."""
    if "hub" not in options.only:
        entry["skipped"] = "--only leaves out the hub"
        return
    if (problem := await unreachable()) is not None:
        entry["skipped"] = problem
        return
    window = Window(options.warmup, options.duration, options.drain)
    steps: list[dict[str, Any]] = []
    rungs: list[dict[str, Any]] = []
    entry |= {
        "clients": options.scale_clients, "window": vars(window), "repeat": options.repeat,
        "redis_url": REDIS_URL, "postgres_url": POSTGRES_URL, "steps": steps, "rungs": rungs,
    }  # fmt: skip

    async def step(configuration: str, rate: float, generators: int) -> dict[str, Any]:
        return await scale_step(configuration, options.scale_clients, rate, window, workdir, generators)

    await climb.climb(
        list(CONFIGURATIONS), options.scale_clients, options.scale_rates, options.repeat, options.generators,
        step, steps, rungs, progress=progress, summary=summarize,
    )  # fmt: skip
    entry["headline"] = headline(rungs)


async def unreachable() -> str | None:
    """Why the part cannot run here (Redis or PostgreSQL does not answer), or None."""
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=CONNECT_S, socket_timeout=CONNECT_S)
    try:
        await redis.ping()
    except (RedisError, OSError) as error:
        return f"Redis not reachable at {REDIS_URL}: {type(error).__name__}: {error}"
    finally:
        await redis.aclose()
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=CONNECT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}: {error}"
    await connection.close()
    return None


@contextlib.asynccontextmanager
async def fresh_store(processes: int) -> AsyncIterator[dict[str, str]]:
    """The HUB_* variables of one step's hub: a new PostgreSQL schema, and with several processes a new
    Redis channel; the schema is dropped and the channel's keys deleted afterwards."""
    name = f"hub_bench_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(POSTGRES_URL, timeout=10)
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')
        separator = "&" if "?" in POSTGRES_URL else "?"
        env = {"HUB_HISTORY_URL": f"{POSTGRES_URL}{separator}search_path={name}"}
        if processes > 1:
            env |= {"HUB_REDIS_URL": REDIS_URL, "HUB_REDIS_CHANNEL": name}
        try:
            yield env
        finally:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            if processes > 1:
                await forget_channel(name)
    finally:
        await connection.close()


async def forget_channel(channel: str) -> None:
    """Delete what the processes of a hub kept in Redis under their channel name (templates, lease)."""
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{channel}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def start_hubs(
    children: Children, workdir: Path, rate: float, ids: list[str], env: dict[str, str], processes: int
) -> list[Server]:
    """The hub's processes, leader first: each next one starts once the first leads (the first started
    takes the lease), and counts once its /health says it follows."""
    if processes == 1:
        return [await start_hub(children, workdir, rate, ids, env=env)]
    hubs = [await start_hub(children, workdir, rate, ids, env=env, role="leader")]
    for _ in range(processes - 1):
        hubs.append(await start_hub(children, workdir, rate, ids, env=env, role="follower"))
    return hubs


@dataclass(frozen=True)
class Usage:
    """CPU seconds so far of some processes and of the whole machine, at one instant."""

    wall: float
    seconds: dict[int, float]
    machine: tuple[int, int, int]

    @classmethod
    def now(cls, pids: Sequence[int]) -> Usage:
        return cls(time.monotonic(), cpu_seconds_of(pids), machine_ticks())

    def cores(self, later: Usage, pids: Sequence[int]) -> float | None:
        """CPU of `pids` together from this instant to `later`, in cores; None if none could be read at both
        (a process that started or ended in between is left out)."""
        both = [pid for pid in pids if pid in self.seconds and pid in later.seconds]
        if not both:
            return None
        spent = sum(later.seconds[pid] - self.seconds[pid] for pid in both)
        return round(spent / (later.wall - self.wall), 3)

    def machine_cores(self, later: Usage) -> tuple[float, float]:
        """(busy, stolen) cores of the whole machine from this instant to `later`."""
        (busy0, stolen0, total0), (busy1, stolen1, total1) = self.machine, later.machine
        cores = (os.cpu_count() or 1) / max(1, total1 - total0)
        return round((busy1 - busy0) * cores, 3), round((stolen1 - stolen0) * cores, 3)


async def scale_step(
    configuration: str, clients: int, rate: float, window: Window, workdir: Path, generators: int
) -> dict[str, Any]:
    """One rung of one configuration: its hub processes, `clients` spread evenly over them (client i on
    process i mod n), each subscribed to every id of the workload, `rate` messages/s offered."""
    processes = CONFIGURATIONS[configuration]
    ids = ids_for(rate)
    step: dict[str, Any] = {"server": configuration, "processes": processes, "clients": clients}
    step |= {"offered_per_s": rate, "ids": len(ids), "generators": generators}
    step["clients_per_process"] = [len(range(n, clients, processes)) for n in range(processes)]
    try:
        async with fresh_store(processes) as env, Children(workdir) as children:
            hubs = await start_hubs(children, workdir, rate, ids, env, processes)
            urls = [hub.url for hub in hubs]
            loadgen = await Loadgen.start(children, urls, clients, {"ids": ids}, processes=generators)
            connected = await loadgen.connected(within_s=120)
            if connected.failed:
                raise ChildFailed(f"{connected.failed} clients could not connect: {connected.errors}")
            hub_pids = [hub.child.pid for hub in hubs]
            redis_pids, postgres_pids = pids_named("redis-server"), pids_named("postgres")
            t0 = time.time() + window.warmup_s
            t1 = t0 + window.duration_s
            recording = asyncio.create_task(loadgen.record(t0, t1, window.drain_s))
            try:
                await sleep_until(t0)
                before = Usage.now([*hub_pids, *redis_pids, *postgres_pids])
                await sleep_until(t1)
                after = Usage.now([*hub_pids, *redis_pids, *postgres_pids])
                step["hub_cpu"] = [before.cores(after, [pid]) for pid in hub_pids]
                step["server_cpu"] = before.cores(after, hub_pids)
                step["redis_cpu"] = before.cores(after, redis_pids)
                step["postgres_cpu"] = before.cores(after, postgres_pids)
                step["machine_cpu"], step["stolen_cpu"] = before.machine_cores(after)
                step["hub_rss_mb"] = [round(hub.child.rss_bytes() / 2**20, 1) for hub in hubs]
                step["hub_health"] = [await hub_health(url) for url in urls]
                results = await recording
            finally:
                recording.cancel()  # when something above failed or was interrupted
                await asyncio.gather(recording, return_exceptions=True)
            step["load_average_1m"] = os.getloadavg()[0]
            await loadgen.close()
    except (ChildFailed, OSError, TimeoutError, RedisError, asyncpg.PostgresError) as error:
        step["error"] = f"{type(error).__name__}: {error}"
        step["passed"] = step["complete"] = False
        return step
    step |= analyze(results, rate, ids, window.duration_s).as_dict()
    if warnings := cluster_warnings(step["hub_health"], processes):
        step["warnings"] = warnings
    return step


def cluster_warnings(healths: list[dict[str, Any]], processes: int) -> list[str]:
    """What the processes' /health at the end of the window says went wrong in the cluster: roles other
    than leader then followers (a lease lost under load), or gaps a follower found in the stream."""
    if processes == 1:
        return []
    clusters = [health.get("cluster") or {} for health in healths]
    roles = [cluster.get("role") for cluster in clusters]
    warnings = []
    if roles != ["leader", *["follower"] * (processes - 1)]:
        warnings.append(f"roles at the end of the window: {', '.join(map(str, roles))}")
    if gaps := sum(cluster.get("stream_gaps") or 0 for cluster in clusters):
        warnings.append(f"{gaps} gaps in the stream")
    return warnings


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ladder's rung summary (bench/climb.py) and the medians of the CPU figures of this part."""
    rung = climb.summarize(runs)

    def median_of(name: str) -> float | None:
        return climb.median([run[name] for run in runs if run.get(name) is not None])

    def hub_cpu(run: dict[str, Any], process: int) -> float | None:
        figures = run.get("hub_cpu") or []
        return figures[process] if process < len(figures) else None

    processes = CONFIGURATIONS[rung["server"]]
    per_process = [[cpu for run in runs if (cpu := hub_cpu(run, n)) is not None] for n in range(processes)]
    busiest = [max(run["generator_cpu"]) for run in runs if run.get("generator_cpu")]
    return rung | {
        "processes": processes,
        "median_hub_cpu": [climb.median(values) for values in per_process],
        "median_redis_cpu": median_of("redis_cpu"),
        "median_postgres_cpu": median_of("postgres_cpu"),
        "median_machine_cpu": median_of("machine_cpu"),
        "median_generator_cpu": climb.median(busiest),
    }


def headline(rungs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration: the highest passing offered rate and its rung's figures; the ratio 2/1."""
    best: dict[str, Any] = {}
    for configuration in CONFIGURATIONS:
        mine = [rung for rung in rungs if rung["server"] == configuration]
        passed = [rung for rung in mine if rung["passed"]]
        top = max(passed, key=lambda rung: rung["offered_per_s"]) if passed else None
        best[configuration] = {
            "offered_per_s": top["offered_per_s"] if top else None,
            "ladder_top": bool(mine) and len(passed) == len(mine),
            "first_failure": next((rung["offered_per_s"] for rung in mine if not rung["passed"]), None),
            "at_best": top,
        }
    one, two = (best[name]["offered_per_s"] for name in CONFIGURATIONS)
    ratio = round((two or 0) / one, 4) if one else None
    return {"best": best, "ratio_2_to_1": ratio}


# --- what it prints --------------------------------------------------------------------------------------

HEADERS = [
    "configuration", "clients", "offered/s", "delivered/s", "complete", "p50 ms", "p99 ms", "max ms", "pass",
    "hub CPU", "redis CPU", "pg CPU", "all CPU", "gens", "gen CPU", "problems",
]  # fmt: skip
RUNG_HEADERS = [
    "configuration", "clients", "offered/s", "passed", "delivered/s", "p50 ms", "p99 ms", "hub CPU",
    "redis CPU", "pg CPU", "all CPU", "gen CPU",
]  # fmt: skip


def cores(values: Sequence[float | None] | None) -> str:
    """Each hub process's CPU, leader first: 0.82+0.61."""
    return "+".join(report.cell(value) for value in values) if values else "-"


def row(step: dict[str, Any]) -> list[object]:
    latency = step.get("latency") or {}
    problems = step.get("problems") or ([step["error"].splitlines()[0]] if "error" in step else [])
    return [
        step["server"], step["clients"], step["offered_per_s"], step.get("delivered_per_s"),
        "yes" if step.get("complete") else "NO", latency.get("p50_ms"), latency.get("p99_ms"),
        latency.get("max_ms"), "yes" if step.get("passed") else "NO", cores(step.get("hub_cpu")),
        step.get("redis_cpu"), step.get("postgres_cpu"), step.get("machine_cpu"), step.get("generators"),
        max(step.get("generator_cpu") or [0.0]) if "generator_cpu" in step else None,
        "; ".join([*problems, *step.get("warnings", []), *filter(None, [step.get("superseded")])]),
    ]  # fmt: skip


def rung_row(rung: dict[str, Any]) -> list[object]:
    p99 = rung["median_p99_ms"]
    return [
        rung["server"], rung["clients"], rung["offered_per_s"], f"{rung['passed_runs']}/{rung['runs']}",
        rung["median_delivered_per_s"], rung["median_p50_ms"], "incomplete" if p99 is None else p99,
        cores(rung["median_hub_cpu"]), rung["median_redis_cpu"], rung["median_postgres_cpu"],
        rung["median_machine_cpu"], rung["median_generator_cpu"],
    ]  # fmt: skip


def progress(step: dict[str, Any]) -> str:
    """One line as soon as a step is done (the aligned table comes at the end)."""
    r = [report.cell(value) for value in row(step)]
    return (
        f"  {r[0]:<11} {r[1]:>4} clients {r[2]:>7}/s offered: {r[3]:>9}/s delivered, complete {r[4]:<3}, "
        f"p50/p99/max {r[5]}/{r[6]}/{r[7]} ms, pass {r[8]}, CPU hub {r[9]} redis {r[10]} pg {r[11]} "
        f"all {r[12]} gen {r[14]} ({r[13]} proc)" + (f"; {r[15]}" if r[15] else "")
    )


def describe(entry: dict[str, Any], repeat: int) -> str:
    """The tables and the headline of the part, or why it was skipped."""
    if "skipped" in entry:
        return f"skipped: {entry['skipped']}"
    lines = [report.table(HEADERS, [row(step) for step in entry["steps"]])]
    if repeat > 1:
        rows = [rung_row(rung) for rung in entry["rungs"]]
        lines += [f"\nMedians of {repeat} runs per rung", report.table(RUNG_HEADERS, rows)]
    lines.append("\nHighest offered messages/s delivered completely with p99 <= 200 ms, and its figures")
    rows = []
    for configuration, best in entry.get("headline", {}).get("best", {}).items():
        top = best["at_best"] or {}
        offered = best["offered_per_s"]
        rows.append([
            configuration,
            "none" if offered is None else f"{'>=' if best['ladder_top'] else ''}{offered:,.0f}",
            best["first_failure"], top.get("median_delivered_per_s"), top.get("median_p99_ms"),
            cores(top.get("median_hub_cpu")), top.get("median_redis_cpu"), top.get("median_postgres_cpu"),
            top.get("median_machine_cpu"), top.get("median_generator_cpu"),
        ])  # fmt: skip
    headers = ["configuration", "best offered/s", "first failure", "delivered/s", "p99 ms", "hub CPU",
               "redis CPU", "pg CPU", "all CPU", "gen CPU"]  # fmt: skip
    lines.append(report.table(headers, rows))
    ratio = entry.get("headline", {}).get("ratio_2_to_1")
    lines.append(f"2 processes / 1 process: {'-' if ratio is None else f'{ratio:.3f}'}")
    lines.append("(redis CPU and pg CPU: shared system services, every process of theirs on the machine)")
    return "\n".join(lines)
