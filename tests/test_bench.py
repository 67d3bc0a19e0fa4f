"""The benchmark suite (bench/) keeps working: a smoke run of every part at toy sizes, no timing checks."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench.history import shapes
from bench.suite import PARTS
from tests.backends import POSTGRES_URL, postgres_problem

ROOT = Path(__file__).parent.parent
SERVERS = ["hub", "node", "stock"]
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: the benchmark's load generator needs it"
)


def run_quick(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`bench/run.py --quick [options]`; on a timeout it gets SIGTERM, so that it stops the processes it
    started."""
    env = os.environ | {"BENCH_REDIS_URL": REDIS_URL, "BENCH_POSTGRES_URL": POSTGRES_URL}  # what we check
    process = subprocess.Popen(
        [sys.executable, "bench/run.py", "--quick", "--json", str(out), *options],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        stdout, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout)


async def scale_out_problem() -> str | None:
    """Why the scale-out part cannot run here (it needs Redis and PostgreSQL), or None."""
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await redis.ping()
    except (RedisError, OSError) as error:
        return f"Redis: {error}"
    finally:
        await redis.aclose()
    return await postgres_problem()


@pytest.mark.timeout(150)  # run_quick's own limit, and the time it takes to stop the run after it
def test_quick_run_measures_every_part_and_writes_the_json(tmp_path: Path) -> None:
    """--quick completes and its JSON holds every measurement of every server in the documented shape."""
    out = tmp_path / "bench.json"
    completed = run_quick(out)
    assert completed.returncode == 0, completed.stdout
    assert "Headline" in completed.stdout, completed.stdout
    results: dict[str, Any] = json.loads(out.read_text())
    assert results["status"] == "complete"
    machine = results["machine"]
    assert {"nproc", "cpu_model", "python", "node", "python_packages", "node_packages"} <= set(machine)
    assert machine["node_packages"]["socket.io"].startswith("4.8.")
    assert machine["node_packages"]["socket.io-client"] == "4.8.4"

    steps = results["throughput"]["steps"]
    assert sorted(step["server"] for step in steps) == SERVERS
    for step in steps:
        assert "error" not in step, step
        assert {"clients", "offered_per_s", "delivered_per_s", "complete", "passed", "problems"} <= set(step)
        assert {"p50_ms", "p99_ms", "max_ms"} <= set(step["latency"])
        assert step["clients"] == 2 and step["received"] > 0
    headline = results["throughput"]["headline"]["2"]
    assert set(headline["best"]) == set(SERVERS)
    assert set(headline["ratios"]) == {"hub/node", "hub/stock"}

    stalled = results["stalled"]
    assert [entry["server"] for entry in stalled] == ["hub", "node"]  # (stock cannot carry the load)
    for entry in stalled:
        for run in ("alone", "stalled"):
            assert entry[run]["runs"] == entry[run]["complete_runs"] == 1, entry
            assert entry[run]["median_delivered_per_s"] > 0 and entry[run]["max_rss_mb"] > 0, entry
        assert {"throughput_ratio", "p99_ratio"} <= set(entry)
        assert sorted(step["stalled_clients"] for step in entry["steps"]) == [0, 1]

    idle = results["idle_connections"]
    assert [entry["server"] for entry in idle] == SERVERS
    for entry in idle:
        assert "error" not in entry, entry
        assert entry["connected"] == entry["clients"]
        assert {"rss_per_connection_bytes", "connects_per_s"} <= set(entry)
    assert "cpu_cores" in results["hub_idle_cpu"], results["hub_idle_cpu"]
    assert "points_per_s" in results["history_ingest"], results["history_ingest"]
    query = results["history_query"]
    assert "error" not in query, query
    assert {"p50_ms", "p99_ms", "items"} <= set(query["query"]["asc"])
    assert {"p50_ms", "p99_ms", "items"} <= set(query["query"]["desc"])
    assert {"p50_ms", "p99_ms", "rows"} <= set(query["query"]["aggregate"])

    scale = results["scale_out"]
    if (problem := asyncio.run(scale_out_problem())) is not None:  # the part records why it did not run
        assert list(scale) == ["skipped"] and scale["skipped"], (problem, scale)
        return
    assert "skipped" not in scale, scale
    steps = scale["steps"]
    assert [(step["server"], step["clients_per_process"]) for step in steps] == [
        ("1 process", [2]), ("2 processes", [1, 1]),
    ]  # fmt: skip
    for step in steps:
        assert "error" not in step, step
        assert step["complete"], step  # every client of both processes got every message, in order
        assert {"delivered_per_s", "passed", "latency", "redis_cpu", "postgres_cpu"} <= set(step)
        assert len(step["hub_cpu"]) == step["processes"], step
    roles = [health["cluster"]["role"] for health in steps[1]["hub_health"]]
    assert roles == ["leader", "follower"], steps[1]["hub_health"]
    assert [rung["server"] for rung in scale["rungs"]] == ["1 process", "2 processes"]
    headline = scale["headline"]
    assert set(headline["best"]) == {"1 process", "2 processes"}
    assert "ratio_2_to_1" in headline


@pytest.mark.timeout(150)
def test_quick_history_part_builds_sizes_and_queries_each_log(tmp_path: Path) -> None:
    """The history part alone, --quick: on each backend both logs are built and measured on disk, every
    request shape answers (pages with a full page of 1,000), and ingest is measured; PostgreSQL says why it
    was skipped only when the test cannot reach it either."""
    out = tmp_path / "bench.json"
    completed = run_quick(out, "--skip", ",".join(part for part in PARTS if part != "history"))
    assert completed.returncode == 0, completed.stdout
    backends = json.loads(out.read_text())["history"]["backends"]
    assert list(backends) == ["sqlite", "postgres"]
    if (problem := asyncio.run(postgres_problem())) is not None:
        assert list(backends.pop("postgres")) == ["skipped"], problem
    for measured in backends.values():
        assert [log["days"] for log in measured["logs"]] == [0.005, 0.02]
        for log in measured["logs"]:
            assert "error" not in log, log
            assert log["build"]["points"] == log["build"]["sensor_points"] + 25 * round(log["days"] * 1440)
            assert log["build"]["bytes_per_point"] > 0
            assert list(log["requests"]) == list(shapes(0, 1))
            for name, figures in log["requests"].items():
                assert {"p50_ms", "p99_ms", "requests"} <= set(figures), (name, figures)
                assert figures["answered"] == 1000 if name.startswith("page") else figures["answered"] > 0
        assert measured["ingest"]["points_per_s"] > 0, measured["ingest"]
