"""Climbing offered rates rung by rung: the rules the throughput ladder and the scale-out part share.

Contenders (servers, or hub configurations) climb side by side, so that each rung of each sees the same
machine conditions; a contender stops at its first failing rung. With `repeat` runs per rung (interleaved
across contenders), a rung passes when most of its runs pass, and its figures are the medians of the runs.
A step whose busiest load generator process was saturated may have measured the generator, not the server:
it is run again with the clients spread over two processes (see bench/README.md, "The load generator").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench import report
from bench.report import say

SATURATED = 0.9
"""A load generator process busier than this (cores) may be what limits a step: it is split in two."""

Summary = Callable[[list[dict[str, Any]]], dict[str, Any]]


Measure = Callable[[str, float, int], Awaitable[dict[str, Any]]]
"""One step: (contender, offered messages/s, load generator processes) -> the step's figures."""


async def climb(
    contenders: Sequence[str], clients: int, rates: Sequence[float], repeat: int, generators: int,
    measure: Measure, steps: list[dict[str, Any]], rungs: list[dict[str, Any]], *,
    progress: Callable[[dict[str, Any]], str] = report.progress,
    summary: Summary | None = None,
) -> None:  # fmt: skip
    """Climb `rates` with `clients` each; appends every step and every rung as it goes (an interrupted run
    still records the steps done). `summary` makes a rung of its runs (default: `summarize`)."""
    summary = summary or summarize
    processes = dict.fromkeys(contenders, generators)
    climbing = list(contenders)
    for rate in rates:
        runs: dict[str, list[dict[str, Any]]] = {contender: [] for contender in climbing}
        for run in range(repeat):
            for contender in climbing:
                step = await measure(contender, rate, processes[contender])
                busiest = max(step.get("generator_cpu") or [0.0])
                if busiest >= SATURATED and processes[contender] < min(2, clients):
                    step["superseded"] = f"load generator saturated ({busiest:.2f} cores): run again with 2"
                    steps.append(step | {"repeat": run})
                    say(progress(step))
                    processes[contender] = 2
                    step = await measure(contender, rate, 2)
                elif busiest >= SATURATED:
                    step["warnings"] = [
                        *step.get("warnings", []),
                        f"load generator saturated ({busiest:.2f} cores)",
                    ]
                step["repeat"] = run
                steps.append(step)
                runs[contender].append(step)
                say(progress(step))
        for contender in list(climbing):
            rung = summary(runs[contender])
            rungs.append(rung)
            if repeat > 1:
                say(report.rung_progress(rung))
            if not rung["passed"]:
                climbing.remove(contender)
        if not climbing:
            break


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One rung of one contender over its repeated runs: passed by majority, median figures."""
    first = runs[0]

    def p99(run: dict[str, Any]) -> float:
        value = (run.get("latency") or {}).get("p99_ms")
        return math.inf if value is None or not run.get("complete") else float(value)

    passed = sum(1 for run in runs if run.get("passed"))
    median_p99 = median([p99(run) for run in runs])  # an incomplete run counts as infinitely slow
    latencies = [run["latency"] for run in runs if run.get("latency")]
    return {
        "server": first["server"],
        "clients": first["clients"],
        "offered_per_s": first["offered_per_s"],
        "runs": len(runs),
        "passed_runs": passed,
        "passed": passed * 2 > len(runs),
        "complete_runs": sum(1 for run in runs if run.get("complete")),
        "median_delivered_per_s": median([run.get("delivered_per_s") or 0.0 for run in runs]),
        "median_p50_ms": median([lat["p50_ms"] for lat in latencies if lat.get("p50_ms") is not None]),
        "median_p99_ms": None if median_p99 == math.inf else median_p99,
        "median_max_ms": median([lat["max_ms"] for lat in latencies if lat.get("max_ms") is not None]),
        "median_server_cpu": median([run["server_cpu"] for run in runs if "server_cpu" in run]),
    }
