"""The benchmark suite's command line: which measurements, at which sizes; the table, the headline, the JSON.

    .venv/bin/python bench/run.py                  # the full run (13-15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick          # a smoke run of every part at toy sizes (~45 s)
    .venv/bin/python bench/run.py --only hub,node --clients 10 --skip memory,query

bench/README.md says what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import history, measure, report, scale_out
from bench.climb import Measure, climb
from bench.measure import Window
from bench.report import say
from bench.servers import BENCH, SERVERS

T = TypeVar("T")
PARTS = ("ladder", "stalled", "scale-out", "memory", "idle-cpu", "ingest", "query", "history")
DEFAULT_RATES = (
    100, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000,
    10_000, 15_000, 20_000, 30_000, 50_000, 70_000, 100_000,
)  # fmt: skip
IDLE_GENERATOR_CLIENTS = 2_500
"""Connections per load generator process in the idle-memory measurement."""


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: every part at toy sizes")
    parser.add_argument("--only", type=_names(SERVERS), default=list(SERVERS), help="hub,node,stock")
    parser.add_argument("--skip", type=_names(PARTS), default=[], help=f"parts to omit: {','.join(PARTS)}")
    parser.add_argument("--clients", type=_numbers(int), default=None, help="client counts (10,100)")
    parser.add_argument("--rates", type=_numbers(float), default=None, help="offered messages/s ladder")
    parser.add_argument("--duration", type=float, default=None, help="seconds recorded per step (5)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds between subscribe and record (2)")
    parser.add_argument("--drain", type=float, default=None, help="seconds to wait for late messages (5)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per rung; medians and majority (1)")
    parser.add_argument(
        "--generators", type=int, default=None,
        help="load generator processes to start with (1); a step that saturates one runs again with 2",
    )  # fmt: skip
    parser.add_argument(
        "--stall-rate", type=float, default=None, help="offered messages/s of the stalled-client part (10000)"
    )
    parser.add_argument("--stall-pairs", type=int, default=None, help="runs with and without the stall (3)")
    parser.add_argument("--scale-clients", type=int, default=None, help="clients of the scale-out part (100)")
    parser.add_argument(
        "--scale-rates", type=_numbers(float), default=None, help="offered messages/s of the scale-out part"
    )
    parser.add_argument("--idle-clients", type=int, default=None, help="idle connections (10000)")
    parser.add_argument("--idle-cpu-seconds", type=float, default=None, help="hub idle CPU sample (20)")
    parser.add_argument("--ingest-points", type=int, default=None, help="points to ingest (1000000)")
    parser.add_argument("--log-messages", type=int, default=None, help="size of the queried log (10000000)")
    parser.add_argument("--queries", type=int, default=None, help="timed requests per order (300)")
    parser.add_argument(
        "--history-days", type=_numbers(float), default=None, help="sizes of the history part's logs (3,30)"
    )
    parser.add_argument(
        "--history-requests", type=int, default=None, help="history: requests per shape (200)"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the logs and databases of the run")
    options = parser.parse_args(argv)
    quick = options.quick
    defaults: dict[str, Any] = {
        "clients": [2] if quick else [10, 100],
        "rates": [200.0] if quick else list(map(float, DEFAULT_RATES)),
        "duration": 1.0 if quick else 5.0,
        "warmup": 0.5 if quick else 2.0,
        "drain": 2.0 if quick else 5.0,
        "generators": 1,
        "stall_rate": 200.0 if quick else 10_000.0,
        "stall_pairs": 1 if quick else 3,
        "scale_clients": 2 if quick else 100,
        "scale_rates": [200.0] if quick else list(map(float, scale_out.DEFAULT_RATES)),
        "idle_clients": 20 if quick else 10_000,
        "idle_cpu_seconds": 1.0 if quick else 20.0,
        "ingest_points": 20_000 if quick else 1_000_000,
        "log_messages": 20_000 if quick else 10_000_000,
        "queries": 20 if quick else 300,
    }
    for name, value in defaults.items():
        if getattr(options, name) is None:
            setattr(options, name, value)
    if options.json is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        options.json = BENCH / "results" / f"bench-{'quick-' if quick else ''}{stamp}.json"
    return options


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            known = ", ".join(allowed)
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {known}")
        return names

    return parse


def _numbers(kind: Callable[[str], T]) -> Callable[[str], list[T]]:
    def parse(text: str) -> list[T]:
        try:
            return [kind(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None

    return parse


def install_node_modules() -> None:
    """`npm ci` in bench/ once: the pinned socket.io server and client of package-lock.json."""
    if (BENCH / "node_modules" / "socket.io" / "package.json").is_file() and (
        BENCH / "node_modules" / "socket.io-client" / "package.json"
    ).is_file():
        return
    print("bench: installing the pinned socket.io packages (npm ci in bench/)", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH, check=True)


async def ladder(options: argparse.Namespace, workdir: Path, throughput: dict[str, Any]) -> None:
    """Every server climbs the offered-load ladder, rung by rung side by side, until a rung fails
    (bench/climb.py). Fills `throughput` as it goes (an interrupted run still records the steps done)."""
    window = Window(options.warmup, options.duration, options.drain)
    steps: list[dict[str, Any]] = []
    rungs: list[dict[str, Any]] = []
    throughput |= {"window": vars(window), "repeat": options.repeat, "steps": steps, "rungs": rungs}
    for clients in options.clients:
        step = _ladder_step(clients, window, workdir)
        await climb(
            options.only, clients, options.rates, options.repeat, options.generators, step, steps, rungs
        )
    throughput["headline"] = _headline(rungs, options)


def _ladder_step(clients: int, window: Window, workdir: Path) -> Measure:
    async def step(kind: str, rate: float, generators: int) -> dict[str, Any]:
        return await measure.throughput_step(kind, clients, rate, window, workdir, generators)

    return step


STALL_SERVERS = ("hub", "node")
"""Stock python-socketio cannot carry the stalled-client load at all (see the ladder), so it is left out."""


async def stalled(options: argparse.Namespace, workdir: Path, clients: int) -> list[dict[str, Any]]:
    """Per server: `clients` at --stall-rate, --stall-pairs times without and with one more client that
    subscribes and never reads (interleaved); medians of the healthy clients' figures, and the server's
    memory over the recorded window of the runs with the stalled client."""
    window = Window(options.warmup, options.duration, options.drain)
    entries = []
    for kind in [kind for kind in options.only if kind in STALL_SERVERS]:
        runs: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
        for _ in range(options.stall_pairs):
            for stall in (0, 1):
                step = await measure.throughput_step(
                    kind, clients, options.stall_rate, window, workdir, options.generators, stalled=stall
                )
                runs[stall].append(step)
                say(report.progress(step) + (" [+1 stalled client]" if stall else ""))
        entries.append(stall_summary(kind, clients, options.stall_rate, runs[0], runs[1]))
    return entries


def stall_summary(
    kind: str, clients: int, rate: float, alone: list[dict[str, Any]], stalled: list[dict[str, Any]]
) -> dict[str, Any]:
    def median_of(
        runs: list[dict[str, Any]], figure: Callable[[dict[str, Any]], float | None]
    ) -> float | None:
        values = [value for value in map(figure, runs) if value is not None]
        return statistics.median(values) if values else None

    def p99(run: dict[str, Any]) -> float | None:
        return (run.get("latency") or {}).get("p99_ms")

    def growth(run: dict[str, Any]) -> float | None:
        samples = run.get("server_rss_mb_samples") or []
        return samples[-1] - samples[0] if samples else None

    entry: dict[str, Any] = {"server": kind, "clients": clients, "offered_per_s": rate}
    entry["steps"] = alone + stalled
    for name, runs in (("alone", alone), ("stalled", stalled)):
        entry[name] = {
            "runs": len(runs),
            "complete_runs": sum(1 for run in runs if run.get("complete")),
            "median_delivered_per_s": median_of(runs, lambda run: run.get("delivered_per_s")),
            "median_p99_ms": median_of(runs, p99),
            "median_rss_growth_mb": median_of(runs, growth),
            "max_rss_mb": max((max(run.get("server_rss_mb_samples") or [0.0]) for run in runs), default=None),
        }
    throughput = (entry["alone"]["median_delivered_per_s"], entry["stalled"]["median_delivered_per_s"])
    latency = (entry["alone"]["median_p99_ms"], entry["stalled"]["median_p99_ms"])
    entry["throughput_ratio"] = round(throughput[1] / throughput[0], 3) if all(throughput) else None
    entry["p99_ratio"] = round(latency[1] / latency[0], 3) if all(latency) else None
    entry["hub_slow_clients_disconnected"] = [
        (run.get("hub_health") or {}).get("slow_clients_disconnected") for run in stalled
    ] if kind == "hub" else None  # fmt: skip
    return entry


def _headline(rungs: list[dict[str, Any]], options: argparse.Namespace) -> dict[str, Any]:
    """Per client count: each server's highest passing offered load, and the hub's ratios to the others."""
    headline: dict[str, Any] = {}
    for clients in options.clients:
        best: dict[str, Any] = {}
        for kind in options.only:
            mine = [r for r in rungs if r["server"] == kind and r["clients"] == clients]
            passed = [r["offered_per_s"] for r in mine if r["passed"]]
            best[kind] = {
                "offered_per_s": max(passed) if passed else None,
                "ladder_top": bool(mine) and all(r["passed"] for r in mine),
                "first_failure": next((r["offered_per_s"] for r in mine if not r["passed"]), None),
            }
        ratios: dict[str, float | None] = {}
        hub = best.get("hub", {}).get("offered_per_s")
        for other in ("node", "stock"):
            theirs = best.get(other, {}).get("offered_per_s")
            if "hub" in best and other in best:
                ratios[f"hub/{other}"] = round((hub or 0) / theirs, 4) if theirs else None
        headline[str(clients)] = {"best": best, "ratios": ratios}
    return headline


async def run(options: argparse.Namespace, results: dict[str, Any]) -> None:
    parts = [part for part in PARTS if part not in options.skip]
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    results["workdir"] = str(workdir)
    try:
        if "ladder" in parts:
            say("\n== Throughput: offered load ladder (pass: complete and p99 <= 200 ms) ==")
            throughput = results["throughput"] = {}
            await ladder(options, workdir, throughput)
            say("\n" + report.table(report.STEP_HEADERS, [report.step_row(s) for s in throughput["steps"]]))
            if options.repeat > 1:
                rows = [report.rung_row(rung) for rung in throughput["rungs"]]
                say(
                    f"\nMedians of {options.repeat} runs per rung\n" + report.table(report.RUNG_HEADERS, rows)
                )
            say("\nHeadline: highest offered messages/s delivered completely with p99 <= 200 ms")
            say(report.headline(results["throughput"]))
        if "stalled" in parts:
            clients = 2 if options.quick else 10
            rate = f"{options.stall_rate:,.0f}/s"
            say(f"\n== A stalled client: {clients} clients at {rate}, without and with one ==")
            results["stalled"] = await stalled(options, workdir, clients)
            say(report.table(report.STALL_HEADERS, [report.stall_row(e) for e in results["stalled"]]))
        if "scale-out" in parts:
            say(
                f"\n== Scale-out: 1 hub process vs 2 over Redis, PostgreSQL log, {options.scale_clients} "
                "clients (pass: complete and p99 <= 200 ms) =="
            )
            entry = results["scale_out"] = {}
            await scale_out.scale_out(options, workdir, entry)
            say(("\n" if "steps" in entry else "") + scale_out.describe(entry, options.repeat))
        if "memory" in parts:
            say(f"\n== Idle connections: {options.idle_clients:,} clients ==")
            results["idle_connections"] = []
            generators = max(1, -(-options.idle_clients // IDLE_GENERATOR_CLIENTS))
            for kind in options.only:
                entry = await measure.idle_connections(
                    kind, options.idle_clients, workdir, generators, concurrency=200,
                    settle_s=1.0 if options.quick else 5.0,
                )  # fmt: skip
                results["idle_connections"].append(entry)
                say(_idle_line(entry))
        if "idle-cpu" in parts:
            say("\n== Hub CPU at idle: default simulator, 10 clients subscribed to everything ==")
            entry = await measure.hub_idle_cpu(
                workdir, 10, options.idle_cpu_seconds, settle_s=0.5 if options.quick else 3.0
            )
            results["hub_idle_cpu"] = entry
            say(_error_or(entry, lambda e: f"{e['cpu_cores']:.2%} of one core over {e['seconds']:g} s"))
        if "ingest" in parts:
            say("\n== History ingest: HistoryLog + SqliteHistory ==")
            entry = await measure.history_ingest(workdir, options.ingest_points)
            results["history_ingest"] = entry
            say(
                _error_or(
                    entry, lambda e: f"{e['points_per_s']:,} points/s ({e['points']:,} in {e['seconds']}s)"
                )
            )
        if "query" in parts:
            say(f"\n== History query: /historical-data on a log of {options.log_messages:,} messages ==")
            entry = await measure.history_query(workdir, options.log_messages, options.queries)
            results["history_query"] = entry
            say(_error_or(entry, _query_lines))
        if "history" in parts:
            plan = history.history_plan(
                options.quick, days=options.history_days, requests=options.history_requests,
                ingest_points=options.ingest_points,
            )  # fmt: skip
            days = " and ".join(f"{d:g}" for d in plan.days)
            say(f"\n== History as it grows: logs of {days} days on SQLite and PostgreSQL ==")
            results["history"] = await history.history(plan, workdir)
            say("\n" + history.describe(results["history"]))
    finally:
        if options.keep_workdir:
            say(f"\nkept the run's work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _idle_line(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return f"{entry['server']}: FAILED: {entry['error']}"
    heap = entry.get("heap_per_connection_bytes")
    return (
        f"{entry['server']:>5}: {entry['connected']:,} connected ({entry['failed']} failed) in "
        f"{entry['connect_seconds']} s = {entry['connects_per_s']:,.0f} connections/s; "
        f"RSS +{report.kib(entry['rss_per_connection_bytes'])} per connection"
        + (f" (JS heap +{report.kib(heap)})" if heap is not None else "")
    )


def _query_lines(entry: dict[str, Any]) -> str:
    build, query = entry["build"], entry["query"]
    lines = [
        f"log built in {build['seconds']} s ({build['database_bytes'] / 2**30:.2f} GiB); "
        f"hub serving after {entry['hub_start_s']} s"
    ]
    for order in ("asc", "desc"):
        q = query[order]
        lines.append(
            f"ids={query['id']}&limit={query['limit']}&order={order}: {q['items']} items, "
            f"p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms, max {q['max_ms']} ms ({query['requests']} requests)"
        )
    a = query["aggregate"]
    lines.append(
        f"ids={a['id']}&interval={a['interval']}&agg={a['agg']} over the last day: {a['rows']} rows, "
        f"p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, max {a['max_ms']} ms ({a['requests']} requests)"
    )
    return "\n".join(lines)


def _error_or(entry: dict[str, Any], describe: Callable[[dict[str, Any]], str]) -> str:
    return f"FAILED: {entry['error']}" if "error" in entry else describe(entry)


def main(argv: Sequence[str]) -> int:
    options = parse_options(argv)
    if shutil.which("node") is None:
        print("bench: node (20 or newer) is needed: the load generator is socket.io-client", file=sys.stderr)
        return 2
    install_node_modules()
    started = time.time()
    results: dict[str, Any] = {
        "command": ["bench/run.py", *argv],
        "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "machine": report.machine(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()},
        "status": "running",
    }
    machine = results["machine"]
    say(f"bench: {machine['cpu_model']}, {machine['nproc']} cores; results in {options.json}")
    try:
        asyncio.run(_main(options, results))
        results["status"] = "complete"
    except (KeyboardInterrupt, asyncio.CancelledError) as interruption:  # the children are stopped already
        results["status"] = "interrupted"
        return 130 if isinstance(interruption, KeyboardInterrupt) else 143
    except Exception as error:
        results["status"] = f"failed: {type(error).__name__}: {error}"
        raise
    finally:
        results["seconds"] = round(time.time() - started, 1)
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
        say(f"\nbench: {results['status']} in {results['seconds']:.0f} s; wrote {options.json}")
    return 0


async def _main(options: argparse.Namespace, results: dict[str, Any]) -> None:
    """`run`, cancelled (so that every child is stopped) on SIGTERM as asyncio.run does on Ctrl-C."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await run(options, results)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
