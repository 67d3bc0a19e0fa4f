"""History log benchmarks. `history` measures the log as it grows and prints tables; the others print one
JSON line and are run by bench/run.py in a process of their own:

    python -m bench.history history [--backends sqlite,postgres] [--days 3,30] [--requests 200] [--quick]
    python -m bench.history ingest --url sqlite:///ingest.db --points 1000000
    python -m bench.history build  --url sqlite:///big.db --messages 10000000
    python -m bench.history build  --url sqlite:///big.db --days 30 --thin-s 60
    python -m bench.history query  --url http://127.0.0.1:8000 --id battery_voltage --count 300

history (bench/run.py's `history` part): on each backend, a log of each size (days ending now: the 10 Hz
sensor attitude_yaw_deg whole, the other default sensors thinned to one point per --thin-s), built with the
hub's own writer; then the hub started on it and timed over HTTP (chart requests over the last 1 h, 1 d,
7 d and 30 d, pages of an hour at the log's start, middle and end), bytes per point on disk, and ingest.
ingest: the hub's own HistoryLog as the hub runs it (its flush task every 0.1 s), fed as fast as one
producer can append (in chunks of 1,000, yielding to the event loop between chunks, waiting while more than
100,000 are unwritten); the rate is points durable per second. --path P is --url sqlite:///P.
build: a log written through the hub's HistoryLog (numbered by it, flushed every 100,000 points): every
default sensor at its rate (--messages), or --days of the history part's traffic.
query: GET /historical-data?ids=<id>&limit=1000 over one kept-alive HTTP connection, `count` times after
a warm-up, in each order; then the chart aggregate interval=1m&agg=min,max,avg over the last day of
attitude_yaw_deg (the 10,000,000-message log spans about 1.9 days), `count // 10` times (at least 3).

Everything measured comes from the tree this runs in (`hub`, `main.py`, `templates/`): copied into a
checkout of another commit, this file measures that commit (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import json
import math
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench import scale_out
from bench.measure import python_json, remove_database
from bench.processes import ChildFailed, Children
from bench.report import say, table
from bench.servers import ROOT, start_hub
from hub.codec import dumps
from hub.history import HistoryLog, Record, open_backend
from hub.messages import format_timestamp
from hub.templates import NUMERIC, TelemetryType, Value, load_templates

SENSOR = "attitude_yaw_deg"
"""The 10 Hz float sensor of the default templates whose charts are measured."""
CHUNK = 1000
MAX_UNWRITTEN = 100_000
FLUSH_EVERY = 100_000
"""A build flushes the log every this many points."""
PATTERN_S = 60
"""A built log repeats one pattern of production this long (every default rate fits it a whole number of
times, and so does one point per minute)."""
PATTERN_US = PATTERN_S * 1_000_000
STATE_S = 600
"""A bool, enum or string sensor of a built log changes state this often."""
HOUR_US = 3_600_000_000
SPANS_H = {"1 h": 1, "1 d": 24, "7 d": 7 * 24, "30 d": 30 * 24}
"""The chart requests' spans, ending at the log's end."""
CHART_GOAL_MS = {"sqlite": 50.0, "postgres": 100.0}
PAGE_GOAL_MS = 10.0
BYTES_GOAL = {"sqlite": 60.0}
INGEST_GOAL = 200_000
BACKENDS = ("sqlite", "postgres")
THIN_S = 60.0
"""A built log holds one point per this many seconds of every default sensor but SENSOR."""
BUDGET_S = 30.0
"""Time requests of one shape for at most this long (a slow one gets fewer, at least 3)."""
WARM_UP = 5
"""Untimed requests of each shape before the timed ones (fewer when they are slow)."""
CARRIES_VALUE = "value" in Record.__dataclass_fields__
"""Whether this tree's Record takes a data message's value (so that the log need not parse its payload)."""

Schedule = list[tuple[int, TelemetryType]]
"""One PATTERN_S of production in time order: (offset in µs, telemetry type)."""


def schedule(thin_s: float | None) -> Schedule:
    """The default sensors' production: each at its rate, or with `thin_s`, each but SENSOR at most once per
    `thin_s` seconds."""
    pattern = []
    for index, telemetry in enumerate(load_templates(ROOT / "templates").telemetry_types):
        rate = telemetry.rate_hz
        if thin_s is not None and telemetry.id != SENSOR:
            rate = min(rate, 1 / thin_s)
        count = max(1, round(PATTERN_S * rate))
        pattern += [(k * PATTERN_US // count, index, telemetry) for k in range(count)]
    pattern.sort(key=lambda entry: entry[:2])
    return [(offset, telemetry) for offset, _, telemetry in pattern]


def wave(telemetry: TelemetryType, rng: random.Random) -> Callable[[float], Value]:
    """Values of `telemetry`'s datatype at t seconds: numbers a slow sine over the middle half of min..max
    plus the template's noise, rounded as the simulator rounds them; other types a new state every STATE_S."""
    knobs = telemetry.simulation or {}
    if telemetry.datatype in NUMERIC:
        low = 0.0 if telemetry.min is None else telemetry.min
        high = 100.0 if telemetry.max is None else telemetry.max
        center, amplitude = (low + high) / 2, (high - low) / 4
        omega = 2 * math.pi / knobs.get("period_s", STATE_S)
        noise, decimals = knobs.get("noise", 0.0), knobs.get("decimals", 3)
        if telemetry.datatype == "int":
            return lambda t: round(center + amplitude * math.sin(omega * t))
        return lambda t: round(center + amplitude * math.sin(omega * t) + rng.gauss(0.0, noise), decimals)
    states: tuple[Value, ...] = (False, True)
    if telemetry.datatype != "bool":
        states = telemetry.values or tuple(knobs.get("texts") or [f"{telemetry.id} #{n}" for n in (1, 2, 3)])
    return lambda t: states[int(t // STATE_S) % len(states)]


def points(plan: Schedule, start_us: int, patterns: int) -> Iterator[tuple[str, int, Value]]:
    """(id, time in µs, value) of `patterns` repetitions of `plan` from `start_us`, in time order."""
    waves = {telemetry.id: wave(telemetry, random.Random(telemetry.id)) for _, telemetry in plan}
    for cycle in range(patterns):
        base = start_us + cycle * PATTERN_US
        for offset, telemetry in plan:
            time_us = base + offset
            yield telemetry.id, time_us, waves[telemetry.id](time_us / 1e6)


def data_record(seq: int, telemetry_id: str, time_us: int, value: Value) -> Record:
    """A data message as the hub streams and logs it."""
    message = {"type": "data", "id": telemetry_id, "value": value}
    payload = dumps(message | {"timestamp": format_timestamp(time_us), "seq": seq})
    if CARRIES_VALUE:
        return Record(seq, "data", telemetry_id, time_us, payload, value)
    return Record(seq, "data", telemetry_id, time_us, payload)


async def new_log(url: str) -> HistoryLog:
    """The hub's log over the backend of `url`, opened for writing; it must be empty."""
    log = HistoryLog(open_backend(url))
    await log.open()
    if log.last_seq != 0:
        await log.close()
        raise RuntimeError(f"{url} is not a new log")
    return log


async def ingest(url: str, points_wanted: int, streaming: bool = False) -> dict[str, Any]:
    """Points durable per second through the hub's log on a new log at `url` (every default sensor at its
    rate), the records made before the clock starts. The points' own times span hours of the schedule:
    a few points per sensor and second, the rollups' worst case. `streaming`: the same points with times
    that advance at INGEST_GOAL points a second, as when a hub takes in that many (the rollups then
    summarize thousands of points per row)."""
    every = schedule(None)
    start_us = round(time.time() * 1e6)
    made: Iterator[tuple[str, int, Value]]
    made = itertools.islice(points(every, start_us, -(-points_wanted // len(every))), points_wanted)
    if streaming:
        step = 1e6 / INGEST_GOAL
        made = ((i, start_us + round(n * step), v) for n, (i, _, v) in enumerate(made))
    records = [data_record(seq, *point) for seq, point in enumerate(made, 1)]  # before the clock starts
    log = await new_log(url)
    writer = asyncio.create_task(log.run())
    started = time.perf_counter()
    try:
        for start in range(0, points_wanted, CHUNK):
            for record in records[start : start + CHUNK]:
                log.next_seq()
                log.append(record)
            if log.pending > MAX_UNWRITTEN:
                await log.flush()  # the producer waits for the disk, as nothing else would stop it
            await asyncio.sleep(0)
        await log.flush()
        elapsed = time.perf_counter() - started
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await log.close()
    return {
        "points": points_wanted,
        "streaming": streaming,
        "seconds": round(elapsed, 3),
        "points_per_s": round(points_wanted / elapsed),
        "flush_interval_s": log.flush_interval_s,
    }


async def build(url: str, plan: Schedule, patterns: int, limit: int | None = None) -> dict[str, Any]:
    """A log of `patterns` repetitions of `plan` (at most `limit` points) ending now, written as the hub
    writes one; then settled and measured on disk."""
    end_us = round(time.time() * 1e6)
    start_us = end_us - patterns * PATTERN_US
    log = await new_log(url)
    started = time.perf_counter()
    try:
        for point in itertools.islice(points(plan, start_us, patterns), limit):
            log.append(data_record(log.next_seq(), *point))
            if log.pending >= FLUSH_EVERY:
                await log.flush()
    finally:
        await log.close()
    seconds = time.perf_counter() - started
    built = log.last_seq
    settling = time.perf_counter()
    await settle(url)
    on_disk = await disk_bytes(url)
    return {
        "points": built,
        "sensor_points": min(built, patterns * sum(1 for _, t in plan if t.id == SENSOR)),
        "start_us": start_us,
        "end_us": end_us,
        "seconds": round(seconds, 1),
        "points_per_s": round(built / seconds),
        "settle_s": round(time.perf_counter() - settling, 1),
        "database_bytes": on_disk,
        "bytes_per_point": round(on_disk / max(1, built), 1),
    }


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://").removeprefix("/"))


async def settle(url: str) -> None:
    """Bring a built log to the state a running hub's reaches: SQLite's WAL checkpointed into the file;
    PostgreSQL's tables vacuumed and analyzed (what autovacuum does to a log that has grown)."""
    if url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for table_name in await connection.fetch(SCHEMA_TABLES.format(what="c.oid::regclass::text")):
            await connection.execute(f"VACUUM (ANALYZE) {table_name[0]}")
    finally:
        await connection.close()


SCHEMA_TABLES = (
    "SELECT {what} FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
    "AND c.relkind IN ('r', 'p', 'm')"
)
"""The tables of the schema a PostgreSQL log's URL selects (its search_path)."""


async def disk_bytes(url: str) -> int:
    """Bytes on disk of the log at `url`, everything counted: SQLite's file and WAL; PostgreSQL's every
    table of the log's schema with its indexes and TOAST."""
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        total = await connection.fetchval(
            SCHEMA_TABLES.format(what="coalesce(sum(pg_total_relation_size(c.oid)), 0)")
        )
    finally:
        await connection.close()
    return int(total)


def query(url: str, telemetry_id: str, count: int, limit: int) -> dict[str, Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    results: dict[str, Any] = {"id": telemetry_id, "limit": limit, "requests": count}
    try:
        for order in ("asc", "desc"):
            target = "/historical-data?" + urlencode({"ids": telemetry_id, "limit": limit, "order": order})
            times, body = timed(connection, target, count, warm_up=max(3, count // 10))
            results[order] = {"items": len(body["items"]), **percentiles(times)}
        end = datetime.now(UTC)
        chart = {
            "ids": SENSOR,
            "interval": "1m",
            "agg": "min,max,avg",
            "start": (end - timedelta(days=1)).isoformat(),
            "end": end.isoformat(),
        }
        requests = max(3, count // 10)
        times, body = timed(connection, "/historical-data?" + urlencode(chart), requests, warm_up=2)
        results["aggregate"] = {
            "id": SENSOR,
            "interval": "1m",
            "agg": "min,max,avg",
            "span_s": 86_400,
            "requests": requests,
            "rows": len(body["rows"]),
            **percentiles(times),
        }
    finally:
        connection.close()
    return results


def timed(
    connection: http.client.HTTPConnection, target: str, count: int, warm_up: int, budget_s: float = math.inf
) -> tuple[list[float], dict[str, Any]]:
    """Milliseconds of each of `count` GETs of `target` after `warm_up` untimed ones, and the last body.
    Slow requests get fewer: the warm-up stops after a tenth of `budget_s` (at least one request), the timed
    ones after all of it (at least three)."""
    body: dict[str, Any] = {}
    warming_ms = 0.0
    for _ in range(warm_up):
        elapsed, body = get(connection, target)
        warming_ms += elapsed
        if warming_ms > budget_s * 100:
            break
    times: list[float] = []
    while len(times) < count and (len(times) < 3 or sum(times) < budget_s * 1000):
        elapsed, body = get(connection, target)
        times.append(elapsed)
    return times, body


def get(connection: http.client.HTTPConnection, target: str) -> tuple[float, dict[str, Any]]:
    """One GET of `target`: its milliseconds, and its JSON body."""
    started = time.perf_counter()
    connection.request("GET", target)
    response = connection.getresponse()
    raw = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {target}: {response.status} {raw[:300]!r}")
    body: dict[str, Any] = json.loads(raw)
    return elapsed * 1000, body


def percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)], 2),
        "max_ms": round(times[-1], 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def shapes(start_us: int, end_us: int) -> dict[str, dict[str, object]]:
    """The requests timed on a log of [start_us, end_us), by name: charts of SENSOR over the last 1 h, 1 d,
    7 d and 30 d (1,000 buckets of min, max and avg; minmax of 1,000 points), and pages of 1,000 of SENSOR
    within an hour at the log's start, middle and end, in each order."""
    requests: dict[str, dict[str, object]] = {}
    for span, hours in SPANS_H.items():
        window = {"ids": SENSOR, "start": format_timestamp(end_us - hours * HOUR_US)}
        window["end"] = format_timestamp(end_us)
        requests[f"buckets {span}"] = window | {"buckets": 1000, "agg": "min,max,avg"}
        requests[f"minmax {span}"] = window | {"strategy": "minmax", "size": 1000}
    hours_at = {"start": start_us, "middle": (start_us + end_us) // 2, "end": end_us - HOUR_US}
    for place, at in hours_at.items():
        for order in ("asc", "desc"):
            window = {"ids": SENSOR, "start": format_timestamp(at), "end": format_timestamp(at + HOUR_US)}
            requests[f"page {place} {order}"] = window | {"limit": 1000, "order": order}
    return requests


def time_requests(
    url: str, requests: dict[str, dict[str, object]], count: int, budget_s: float
) -> dict[str, dict[str, Any]]:
    """p50/p99 of each request over one kept-alive connection: a few untimed, then `count` (or as many as
    fit in `budget_s`); the items or rows of its answer. A request that fails records its error."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=120)
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, parameters in requests.items():
            target = "/historical-data?" + urlencode(parameters)
            try:
                times, body = timed(connection, target, count, min(WARM_UP, count), budget_s)
            except (OSError, RuntimeError) as error:
                results[name] = {"error": f"{type(error).__name__}: {error}"}
                connection.close()  # a new connection for the next request
                continue
            answered = len(body.get("items", body.get("rows", [])))
            results[name] = {"requests": len(times), "answered": answered, **percentiles(times)}
    finally:
        connection.close()
    return results


@dataclass(frozen=True)
class Plan:
    """What the history part measures: the backends, the log sizes in days, the other sensors' thinning,
    the timed requests per shape (at most `budget_s` each), the points of the ingest measurement."""

    backends: tuple[str, ...]
    days: tuple[float, ...]
    requests: int
    ingest_points: int
    thin_s: float = THIN_S
    budget_s: float = BUDGET_S


def history_plan(
    quick: bool, backends: Sequence[str] = BACKENDS, days: Sequence[float] | None = None,
    requests: int | None = None, ingest_points: int | None = None, thin_s: float = THIN_S,
    budget_s: float = BUDGET_S,
) -> Plan:  # fmt: skip
    """The full sizes (logs of 3 and 30 days, 200 requests per shape, 1,000,000 points ingested), or with
    `quick` toy ones (0.005 and 0.02 days: 4,375 and 18,125 points; 3 requests; 20,000 points); what is
    given overrides them."""
    return Plan(
        tuple(backends),
        tuple(days or ((0.005, 0.02) if quick else (3.0, 30.0))),
        requests or (3 if quick else 200),
        ingest_points or (20_000 if quick else 1_000_000),
        thin_s,
        budget_s,
    )


async def history(plan: Plan, workdir: Path) -> dict[str, Any]:
    """The history part: on each backend (PostgreSQL skipped, with the reason, when it does not answer), a
    log of each size built, the hub started on it and its requests timed; then ingest on a new log."""
    entry: dict[str, Any] = {"plan": asdict(plan), "sensor": SENSOR, "carries_value": CARRIES_VALUE}
    entry["thinning"] = f"every default sensor but {SENSOR} at most one point per {plan.thin_s:g} s"
    backends: dict[str, dict[str, Any]] = {}
    entry["backends"] = backends
    for backend in plan.backends:
        if backend == "postgres" and (problem := await postgres_problem()) is not None:
            backends[backend] = {"skipped": problem}
            say(f"history on postgres skipped: {problem}")
            continue
        logs = [await measure_log(backend, days, plan, workdir) for days in plan.days]
        backends[backend] = {"logs": logs}
        backends[backend]["ingest"] = ingested = await measure_ingest(backend, plan.ingest_points, workdir)
        say(f"{backend}: ingest {ingest_line(ingested)}")
    return entry


async def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (no server answers at BENCH_POSTGRES_URL), or None."""
    import asyncpg

    try:
        connection = await asyncpg.connect(scale_out.POSTGRES_URL, timeout=scale_out.CONNECT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"PostgreSQL not reachable at {scale_out.POSTGRES_URL}: {type(error).__name__}: {error}"
    await connection.close()
    return None


@contextlib.asynccontextmanager
async def fresh_log(backend: str, workdir: Path) -> AsyncIterator[str]:
    """The URL of a new log on `backend`, deleted afterwards: a SQLite file in `workdir`, or a PostgreSQL
    schema of its own."""
    if backend == "postgres":
        async with scale_out.fresh_store(1) as env:
            yield env["HUB_HISTORY_URL"]
        return
    database = workdir / f"history-{uuid.uuid4().hex[:12]}.db"
    try:
        yield f"sqlite:///{database}"
    finally:
        remove_database(database)


async def measure_log(backend: str, days: float, plan: Plan, workdir: Path) -> dict[str, Any]:
    """A log of `days` built on `backend`, the hub started on it, and every request of `shapes` timed."""
    result: dict[str, Any] = {"days": days}
    try:
        async with fresh_log(backend, workdir) as url, Children(workdir) as children:
            args = ["build", "--url", url, "--days", str(days), "--thin-s", str(plan.thin_s)]
            result["build"] = built = await python_json(children, "build", args, within_s=7200)
            say(f"{backend}, {days:g} d: {build_line(built)}")
            started = time.monotonic()
            templates = ROOT / "templates"
            env = {"HUB_HISTORY_URL": url}
            server = await start_hub(children, workdir, 0, [], templates=templates, env=env)
            result["hub_start_s"] = round(time.monotonic() - started, 2)
            requests = shapes(built["start_us"], built["end_us"])
            result["requests"] = await asyncio.to_thread(
                time_requests, server.url, requests, plan.requests, plan.budget_s
            )
    except ChildFailed as error:
        result["error"] = str(error)
    return result


async def measure_ingest(backend: str, points_wanted: int, workdir: Path) -> dict[str, Any]:
    try:
        async with fresh_log(backend, workdir) as url, Children(workdir) as children:
            args = ["ingest", "--url", url, "--points", str(points_wanted)]
            result = await python_json(children, "ingest", args, within_s=1200)
        async with fresh_log(backend, workdir) as url, Children(workdir) as children:
            args = ["ingest", "--url", url, "--points", str(points_wanted), "--streaming"]
            result["streaming_result"] = await python_json(children, "ingest", args, within_s=1200)
            return result
    except ChildFailed as error:
        return {"points": points_wanted, "error": str(error)}


def build_line(built: dict[str, Any]) -> str:
    return (
        f"{built['points']:,} points ({built['sensor_points']:,} of {SENSOR}) built in {built['seconds']} s "
        f"({built['points_per_s']:,}/s), {built['bytes_per_point']} bytes per point"
    )


def ingest_line(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return f"FAILED: {entry['error']}"
    met = "met" if entry["points_per_s"] >= INGEST_GOAL else "NOT met"
    line = (
        f"{entry['points_per_s']:,} points/s ({entry['points']:,} in {entry['seconds']} s; "
        f"goal >= {INGEST_GOAL:,}: {met})"
    )
    streamed = entry.get("streaming_result")
    if streamed is None:
        return line
    return f"{line}; times advancing at {INGEST_GOAL:,}/s (streaming): {ingest_line(streamed)}"


def describe(entry: dict[str, Any]) -> str:
    """The history part's tables: per backend its logs, then every request's p50/p99 per log size."""
    lines = [f"Logs: {SENSOR} at 10 Hz whole, {entry['thinning']}; p50/p99 in ms"]
    for backend, measured in entry["backends"].items():
        if "skipped" in measured:
            lines.append(f"\n{backend}: skipped: {measured['skipped']}")
            continue
        lines += ["", f"{backend}:", logs_table(backend, measured["logs"])]
        lines += [f"FAILED, {log['days']:g} d: {log['error']}" for log in measured["logs"] if "error" in log]
        lines += ["", requests_table(backend, measured["logs"]), f"ingest: {ingest_line(measured['ingest'])}"]
    return "\n".join(lines)


def logs_table(backend: str, logs: list[dict[str, Any]]) -> str:
    goal = BYTES_GOAL.get(backend)
    rows: list[list[object]] = []
    for log in [log for log in logs if "build" in log]:
        built = log["build"]
        met = "-" if goal is None else f"<= {goal:g}: {'yes' if built['bytes_per_point'] <= goal else 'NO'}"
        rows.append([
            f"{log['days']:g} d", built["points"], built["sensor_points"], built["seconds"],
            built["points_per_s"], built["settle_s"], built["database_bytes"] / 2**20,
            built["bytes_per_point"], met, log.get("hub_start_s"),
        ])  # fmt: skip
    headers = ["log", "points", SENSOR, "build s", "points/s", "settle s", "MiB", "bytes/point", "goal"]
    headers.append("hub start s")
    return table(headers, rows)


def requests_table(backend: str, logs: list[dict[str, Any]]) -> str:
    """One row per request: p50, p99 and the number timed on each log, the growth of p99 from the first log
    to the last, and whether every p99 met its goal; then the requests that failed."""
    measured = [log for log in logs if "requests" in log]
    if not measured:
        return "(no requests timed)"
    headers = ["request", "goal p99"]
    for log in measured:
        headers += [f"{log['days']:g} d p50", f"{log['days']:g} d p99", f"{log['days']:g} d n"]
    growth = len(measured) > 1
    headers += ["p99 growth", "met"] if growth else ["met"]
    rows, failures = [], []
    for name in measured[0]["requests"]:
        goal = PAGE_GOAL_MS if name.startswith("page") else CHART_GOAL_MS[backend]
        figures = [log["requests"].get(name, {}) for log in measured]
        row: list[object] = [name, f"<= {goal:g}"]
        for log, figure in zip(measured, figures, strict=True):
            row += [figure.get("p50_ms"), figure.get("p99_ms"), figure.get("requests")]
            if "error" in figure:
                failures.append(f"FAILED, {name} on {log['days']:g} d: {figure['error']}")
        p99s = [figure.get("p99_ms") for figure in figures]
        if growth:
            first, last = p99s[0], p99s[-1]
            row.append(round(last / first, 2) if first and last else None)
        row.append("yes" if all(p is not None and p <= goal for p in p99s) else "NO")
        rows.append(row)
    return "\n".join([table(headers, rows), *failures])


def run_history(plan: Plan, json_path: Path | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-history-"))
    started = time.monotonic()
    try:
        entry = asyncio.run(history(plan, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    entry["seconds"] = round(time.monotonic() - started, 1)
    say("\n" + describe(entry) + f"\n\nhistory: {entry['seconds']:.0f} s")
    if json_path is not None:
        json_path.write_text(json.dumps(entry, indent=1) + "\n")


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="the log's HUB_HISTORY_URL")
    where.add_argument("--path", type=Path, help="a SQLite log: --url sqlite:///PATH")


def log_url(args: argparse.Namespace) -> str:
    return str(args.url or f"sqlite:///{args.path.resolve()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    history_args = commands.add_parser("history")
    history_args.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    history_args.add_argument("--days", default=None, help="log sizes in days (3,30)")
    history_args.add_argument("--thin-s", type=float, default=THIN_S, help="the other sensors' period (60)")
    history_args.add_argument("--requests", type=int, default=None, help="timed requests per shape (200)")
    history_args.add_argument("--budget-s", type=float, default=BUDGET_S, help="at most this per shape (30)")
    history_args.add_argument("--ingest-points", type=int, default=None, help="points ingested (1000000)")
    history_args.add_argument("--quick", action="store_true", help="toy sizes, a smoke run")
    history_args.add_argument("--json", type=Path, default=None, help="also write the results here")
    ingest_args = commands.add_parser("ingest")
    add_log_arguments(ingest_args)
    ingest_args.add_argument("--points", type=int, default=1_000_000)
    ingest_args.add_argument(
        "--streaming", action="store_true", help=f"the points' times advance at {INGEST_GOAL:,} a second"
    )
    build_args = commands.add_parser("build")
    add_log_arguments(build_args)
    sizes = build_args.add_mutually_exclusive_group(required=True)
    sizes.add_argument("--messages", type=int, help="this many points, every default sensor at its rate")
    sizes.add_argument("--days", type=float, help="this many days of the history part's traffic")
    build_args.add_argument("--thin-s", type=float, default=THIN_S)
    query_args = commands.add_parser("query")
    query_args.add_argument("--url", required=True)
    query_args.add_argument("--id", default="battery_voltage")
    query_args.add_argument("--count", type=int, default=300)
    query_args.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    if args.command == "history":
        backends = [name for name in args.backends.split(",") if name]
        if unknown := sorted(set(backends) - set(BACKENDS)):
            parser.error(f"--backends: unknown {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
        days = None if args.days is None else [float(d) for d in args.days.split(",")]
        plan = history_plan(
            args.quick, backends, days, args.requests, args.ingest_points, args.thin_s, args.budget_s
        )
        run_history(plan, args.json)
        return
    if args.command == "ingest":
        result = asyncio.run(ingest(log_url(args), args.points, args.streaming))
    elif args.command == "build" and args.messages:
        every = schedule(None)
        patterns = -(-args.messages // len(every))
        result = asyncio.run(build(log_url(args), every, patterns, limit=args.messages))
    elif args.command == "build":
        patterns = max(1, round(args.days * 86_400 / PATTERN_S))
        result = asyncio.run(build(log_url(args), schedule(args.thin_s), patterns))
    else:
        result = query(args.url, args.id, args.count, args.limit)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
