"""History log benchmarks, each run by bench/run.py in a process of its own, printing one JSON line:

    python -m bench.history ingest --path ingest.db --points 1000000
    python -m bench.history build  --path big.db --messages 10000000
    python -m bench.history query  --url http://127.0.0.1:8000 --id battery_voltage --count 300

ingest: the hub's own HistoryLog over SqliteHistory, as the hub runs it (its flush task every 0.1 s, WAL,
synchronous=FULL), fed as fast as one producer can append (in chunks of 1,000, yielding to the event loop
between chunks, waiting while more than 100,000 are unwritten); the rate is points durable per second.
build: a log of the default templates' telemetry (every id at its rate, type-correct values, timestamps
ending now) written through SqliteHistory.write in batches, so its file is exactly what the hub writes.
query: GET /historical-data?ids=<id>&limit=1000 over one kept-alive HTTP connection, `count` times after
a warm-up, in each order; then the chart aggregate interval=1m&agg=min,max,avg over the last day of a 10 Hz
sensor (attitude_yaw_deg: the 10,000,000-message log spans about 1.9 days), `count // 10` times (at least
3); latency percentiles of the whole request.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from hub.history import HistoryLog, Record
from hub.history.base import Marks
from hub.history.sqlite import SqliteHistory
from hub.templates import TelemetryType, load_templates

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1000
MAX_UNWRITTEN = 100_000
BUILD_BATCH = 100_000
PATTERN_S = 10
"""The built log repeats the default templates' production of this many seconds (every rate fits)."""
AGGREGATE_ID = "attitude_yaw_deg"
"""A 10 Hz float sensor of the default templates."""


def sample_payload(telemetry: TelemetryType, seq: int) -> str:
    """A value of the type's datatype, as JSON text."""
    datatype = telemetry.datatype
    if datatype == "float":
        return f"{20 + (seq * 7919 % 10_000) / 1000:.3f}"
    if datatype == "int":
        return str(seq % 1000)
    if datatype == "bool":
        return "true" if seq % 2 else "false"
    if datatype == "enum":
        values = telemetry.values or ("",)
        return json.dumps(values[seq % len(values)])
    return json.dumps(f"{telemetry.id} #{seq % 3 + 1}")


class Timestamps:
    """format_timestamp's text (2026-11-27T03:30:09.123456Z), caching the part that changes once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, time_us: int) -> str:
        second, micros = divmod(time_us, 1_000_000)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{micros:06d}Z"


def default_traffic(messages: int, end_us: int) -> Iterator[Record]:
    """`messages` data records of the default templates at their rates, the last produced at `end_us`."""
    types = load_templates(ROOT / "templates").telemetry_types
    pattern = sorted(
        (round(k * 1e6 / t.rate_hz), index)
        for index, t in enumerate(types)
        for k in range(math.ceil(PATTERN_S * t.rate_hz))
    )
    per_pattern = len(pattern)
    start_us = end_us - (messages // per_pattern + 1) * PATTERN_S * 1_000_000
    stamp = Timestamps()
    for seq in range(1, messages + 1):
        cycle, position = divmod(seq - 1, per_pattern)
        offset_us, index = pattern[position]
        telemetry = types[index]
        time_us = start_us + cycle * PATTERN_S * 1_000_000 + offset_us
        payload = (
            f'{{"type":"data","id":"{telemetry.id}","value":{sample_payload(telemetry, seq)},'
            f'"timestamp":"{stamp(time_us)}","seq":{seq}}}'
        )
        yield Record(seq, "data", telemetry.id, time_us, payload)


async def ingest(path: Path, points: int) -> dict[str, Any]:
    backend = SqliteHistory(path)
    backend.check()
    log = HistoryLog(backend)
    await log.open()
    if log.last_seq != 0:
        raise RuntimeError(f"{path} is not a new log")
    records = list(default_traffic(points, round(time.time() * 1e6)))  # made before the clock starts
    writer = asyncio.create_task(log.run())
    started = time.perf_counter()
    try:
        for start in range(0, points, CHUNK):
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
        "points": points,
        "seconds": round(elapsed, 3),
        "points_per_s": round(points / elapsed),
        "flush_interval_s": log.flush_interval_s,
    }


async def build(path: Path, messages: int) -> dict[str, Any]:
    backend = SqliteHistory(path)
    backend.check()
    await backend.open()
    started = time.perf_counter()
    batch: list[Record] = []
    try:
        for record in default_traffic(messages, round(time.time() * 1e6)):
            batch.append(record)
            if len(batch) == BUILD_BATCH:
                await backend.write(batch, Marks(record.seq, 0))
                batch = []
        if batch:
            await backend.write(batch, Marks(batch[-1].seq, 0))
    finally:
        await backend.close(Marks(messages, 0))
    elapsed = time.perf_counter() - started
    return {"messages": messages, "seconds": round(elapsed, 1)}


def database_bytes(path: Path) -> int:
    """The size of a SQLite database with its WAL file."""
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


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
            "ids": AGGREGATE_ID,
            "interval": "1m",
            "agg": "min,max,avg",
            "start": (end - timedelta(days=1)).isoformat(),
            "end": end.isoformat(),
        }
        requests = max(3, count // 10)
        times, body = timed(connection, "/historical-data?" + urlencode(chart), requests, warm_up=2)
        results["aggregate"] = {
            "id": AGGREGATE_ID,
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
    connection: http.client.HTTPConnection, target: str, count: int, warm_up: int
) -> tuple[list[float], dict[str, Any]]:
    """Milliseconds of each of `count` GETs of `target` after `warm_up` untimed ones, and the last body."""
    times = []
    body: dict[str, Any] = {}
    for attempt in range(warm_up + count):
        started = time.perf_counter()
        connection.request("GET", target)
        response = connection.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET {target}: {response.status} {raw[:300]!r}")
        body = json.loads(raw)
        if attempt >= warm_up:
            times.append(elapsed * 1000)
    return times, body


def percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)], 2),
        "max_ms": round(times[-1], 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_args = commands.add_parser("ingest")
    ingest_args.add_argument("--path", type=Path, required=True)
    ingest_args.add_argument("--points", type=int, default=1_000_000)
    build_args = commands.add_parser("build")
    build_args.add_argument("--path", type=Path, required=True)
    build_args.add_argument("--messages", type=int, default=10_000_000)
    query_args = commands.add_parser("query")
    query_args.add_argument("--url", required=True)
    query_args.add_argument("--id", default="battery_voltage")
    query_args.add_argument("--count", type=int, default=300)
    query_args.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    if args.command == "ingest":
        result = asyncio.run(ingest(args.path, args.points)) | {"database_bytes": database_bytes(args.path)}
    elif args.command == "build":
        result = asyncio.run(build(args.path, args.messages)) | {"database_bytes": database_bytes(args.path)}
    else:
        result = query(args.url, args.id, args.count, args.limit)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
