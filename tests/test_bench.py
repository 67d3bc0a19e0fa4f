"""The benchmark suite (bench/) keeps working: a smoke run of every part at toy sizes, no timing checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
SERVERS = ["hub", "node", "stock"]

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: the benchmark's load generator needs it"
)


def run_quick(out: Path) -> subprocess.CompletedProcess[str]:
    """`bench/run.py --quick`; on a timeout it gets SIGTERM, so that it stops the processes it started."""
    process = subprocess.Popen(
        [sys.executable, "bench/run.py", "--quick", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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
