"""What a run prints and records: the machine it ran on, the tables, the headline."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.processes import open_files_limit
from bench.servers import BENCH, ROOT


def say(text: str = "") -> None:
    print(text, flush=True)


def machine() -> dict[str, Any]:
    """The machine and software versions, so that figures from different runs can be told apart."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text().split()
    python_packages = ["python-socketio", "python-engineio", "uvicorn", "uvloop", "websockets", "fastapi"]
    node_packages = ["socket.io", "socket.io-client", "engine.io", "engine.io-client", "ws"]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": models[0] if models else None,
        "memory_total_kib": int(meminfo[meminfo.index("MemTotal:") + 1]),
        "load_average": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _output(["node", "--version"]),
        "python_packages": {name: _python_version(name) for name in python_packages},
        "node_packages": {name: _node_version(name) for name in node_packages},
        "git_commit": _output(["git", "rev-parse", "HEAD"]),
        "git_changes": _output(["git", "status", "--porcelain", "--", "hub", "main.py", "requirements.txt"]),
        "open_files_limit": open_files_limit(),
    }


def _output(argv: list[str]) -> str | None:
    try:
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _python_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _node_version(name: str) -> str | None:
    try:
        package = json.loads((BENCH / "node_modules" / name / "package.json").read_text())
    except OSError:
        return None
    version: str = package["version"]
    return version


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, numbers right-aligned."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))] if rows else []

    def line(values: Sequence[str]) -> str:
        aligned = [
            v.rjust(w) if numeric and numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(aligned).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) or value is None or (isinstance(value, str) and value == "-")


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


STEP_HEADERS = [
    "server", "clients", "offered/s", "ids", "delivered/s", "complete", "p50 ms", "p99 ms", "max ms", "pass",
    "srv CPU", "gens", "gen CPU", "problems",
]  # fmt: skip
RUNG_HEADERS = [
    "server",
    "clients",
    "offered/s",
    "passed",
    "delivered/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "srv CPU",
]


def step_row(step: dict[str, Any]) -> list[object]:
    latency = step.get("latency") or {}
    problems = step.get("problems") or ([step["error"].splitlines()[0]] if "error" in step else [])
    return [
        step["server"],
        step["clients"],
        step["offered_per_s"],
        step["ids"],
        step.get("delivered_per_s"),
        "yes" if step.get("complete") else "NO",
        latency.get("p50_ms"),
        latency.get("p99_ms"),
        latency.get("max_ms"),
        "yes" if step.get("passed") else "NO",
        step.get("server_cpu"),
        step.get("generators"),
        max(step.get("generator_cpu") or [0.0]) if "generator_cpu" in step else None,
        "; ".join([*problems, *step.get("warnings", []), *filter(None, [step.get("superseded")])]),
    ]


def progress(step: dict[str, Any]) -> str:
    """One line as soon as a step is done (the aligned table comes at the end)."""
    row = step_row(step)
    return (
        f"  {row[0]:<5} {row[1]:>4} clients {cell(row[2]):>8}/s offered: {cell(row[4]):>10}/s delivered, "
        f"complete {row[5]:<3}, p50/p99/max {cell(row[6])}/{cell(row[7])}/{cell(row[8])} ms, "
        f"pass {row[9]}, CPU server {cell(row[10])} gen {cell(row[12])} ({row[11]} proc)"
        + (f"; {row[13]}" if row[13] else "")
    )


STALL_HEADERS = [
    "server", "clients", "offered/s", "delivered/s alone", "with stall", "ratio", "p99 ms alone",
    "with stall", "ratio", "RSS growth MB alone", "with stall", "peak RSS MB with stall", "stalled shed",
]  # fmt: skip


def stall_row(entry: dict[str, Any]) -> list[object]:
    alone, stalled = entry["alone"], entry["stalled"]
    shed = entry.get("hub_slow_clients_disconnected")
    return [
        entry["server"], entry["clients"], entry["offered_per_s"],
        alone["median_delivered_per_s"], stalled["median_delivered_per_s"], entry["throughput_ratio"],
        alone["median_p99_ms"], stalled["median_p99_ms"], entry["p99_ratio"],
        alone["median_rss_growth_mb"], stalled["median_rss_growth_mb"], stalled["max_rss_mb"],
        "-" if shed is None else ",".join(str(n) for n in shed),
    ]  # fmt: skip


def rung_row(rung: dict[str, Any]) -> list[object]:
    p99 = rung["median_p99_ms"]
    return [
        rung["server"],
        rung["clients"],
        rung["offered_per_s"],
        f"{rung['passed_runs']}/{rung['runs']}",
        rung["median_delivered_per_s"],
        rung["median_p50_ms"],
        "incomplete" if p99 is None else p99,
        rung["median_max_ms"],
        rung["median_server_cpu"],
    ]


def rung_progress(rung: dict[str, Any]) -> str:
    row = rung_row(rung)
    return (
        f"  = {row[0]:<5} {row[1]:>4} clients {cell(row[2]):>8}/s: passed {row[3]} runs, "
        f"median p99 {cell(row[6])} ms"
    )


def headline(throughput: dict[str, Any]) -> str:
    rows = []
    for clients, entry in throughput["headline"].items():
        best = entry["best"]
        rows.append(
            [
                clients,
                *(_best(best.get(kind)) for kind in ("hub", "node", "stock")),
                _ratio(entry["ratios"].get("hub/node")),
                _ratio(entry["ratios"].get("hub/stock")),
            ]
        )
    headers = ["clients", "hub", "node", "stock", "hub/node", "hub/stock"]
    return table(headers, rows)


def _best(best: dict[str, Any] | None) -> str:
    if best is None:
        return "-"
    if best["offered_per_s"] is None:
        return "none"
    return f"{'>=' if best['ladder_top'] else ''}{best['offered_per_s']:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def kib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:,.1f} KiB"
