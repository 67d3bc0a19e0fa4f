"""The three servers under test, each started as its own process on a free port of 127.0.0.1.

- hub: the real thing, `python main.py`, with the simulator producing from templates written for the
  workload (source -> checks -> log -> fan-out -> rooms -> clients) and a real SQLite log;
- node: bench/node_server.mjs, a minimal socket.io 4.8 server with the same contract;
- stock: bench/stock_server.py, stock python-socketio with the same contract.

A workload is an offered rate spread evenly over `ids` (the hub's simulator allows at most 10,000 Hz per
telemetry type, so faster loads use several ids; every client subscribes to all of them).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.processes import Child, Children, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SERVERS = ("hub", "node", "stock")
MAX_RATE_PER_ID = 10_000
"""The hub's templates allow rate_hz up to this per telemetry type."""
IDLE_RATE_HZ = 0.001
"""The hub needs a positive rate: one sample at start-up, the next after 1,000 s (idle for a benchmark)."""


Role = Literal["leader", "follower"]
"""The role of one process of a scaled-out hub (HUB_REDIS_URL), as its /health says."""


@dataclass(frozen=True)
class Server:
    kind: str
    url: str
    child: Child


def ids_for(rate: float) -> list[str]:
    """The telemetry ids of a workload of `rate` messages/s: as few as the per-id limit allows."""
    count = max(1, -(-int(rate) // MAX_RATE_PER_ID))
    return [f"bench_{n}" for n in range(count)]


def write_templates(directory: Path, rate: float, ids: list[str]) -> Path:
    """A templates directory for the hub: one float type per id (group bench) at rate/len(ids) Hz each,
    with simulator knobs for a plausible value, no limits (no notifications), and no commands."""
    directory.mkdir(parents=True, exist_ok=True)
    per_id = rate / len(ids) if rate > 0 else IDLE_RATE_HZ
    types = [
        {
            "id": telemetry_id,
            "name": f"Benchmark value {telemetry_id}",
            "group": "bench",
            "unit": "1",
            "datatype": "float",
            "rate_hz": per_id,
            "simulation": {"center": 50.0, "amplitude": 10.0, "period_s": 60.0, "noise": 0.5, "decimals": 3},
        }
        for telemetry_id in ids
    ]
    telemetry = yaml.safe_dump({"telemetry_types": types}, sort_keys=False)
    (directory / "telemetry_types.yaml").write_text(telemetry)
    (directory / "command_templates.yaml").write_text(yaml.safe_dump({"command_templates": []}))
    return directory


def hub_environment(templates: Path, database: Path, port: int, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {
        "HUB_HOST": "127.0.0.1",
        "HUB_PORT": str(port),
        "HUB_TEMPLATES_DIR": str(templates),
        "HUB_HISTORY_URL": f"sqlite:///{database}",
        "HUB_LOG_LEVEL": "warning",
        # every load generator connects from 127.0.0.1: one address's budget would refuse most of them
        "HUB_ADDRESS_EVENT_RATE": "1000000",
        "HUB_ADDRESS_EVENT_BURST": "1000000",
    }
    return env | more


async def start_hub(
    children: Children, workdir: Path, rate: float, ids: list[str], *, templates: Path | None = None,
    database: Path | None = None, max_clients: int | None = None, env: Mapping[str, str] | None = None,
    role: Role | None = None,
) -> Server:  # fmt: skip
    """`python main.py` with a fresh SQLite log (or `database`) and templates for the workload (or
    `templates`, e.g. the default ones), `env` overriding any of its HUB_* variables; returns once /health
    says the source is running, or with `role` (a process of a scaled-out hub), once it has that role."""
    port = free_port()
    name = f"hub-{port}"
    templates = templates or write_templates(workdir / f"{name}-templates", rate, ids)
    database = database or workdir / f"{name}.db"
    extra = {"HUB_MAX_CLIENTS": str(max_clients)} if max_clients else {}
    environment = hub_environment(templates, database, port, **extra) | dict(env or {})
    argv = [sys.executable, "main.py"]
    child = await children.start("hub", argv, cwd=ROOT, env=environment, talk=False)
    url = f"http://127.0.0.1:{port}"
    await wait_for_port(child, port, within_s=120)  # opening a large log counts its rows first
    await wait_until_running(child, url, role)
    return Server("hub", url, child)


def ready(health: dict[str, Any], role: Role | None) -> bool:
    """Whether a hub's /health says it serves the workload: its source runs, or in a scaled-out hub, it
    has `role` (a follower's source runs in the leading process)."""
    if role == "follower":
        return bool(health.get("cluster", {}).get("role") == "follower")
    running = health.get("source", {}).get("state") == "running"
    return running and (role is None or health.get("cluster", {}).get("role") == role)


async def wait_until_running(
    child: Child, url: str, role: Role | None = None, within_s: float = 30.0
) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            health = await asyncio.to_thread(get_json, f"{url}/health")
        except OSError as error:  # not serving yet
            health = {"error": str(error)}
        if ready(health, role):
            return
        if time.monotonic() > deadline:
            wanted = "the source is running" if role is None else f"this process is the {role}"
            raise child.failure(f"/health never said {wanted}: {health}")
        await asyncio.sleep(0.1)


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


async def start_node(children: Children, rate: float, ids: list[str], *, expose_gc: bool = False) -> Server:
    port = free_port()
    argv = ["node", *(["--expose-gc"] if expose_gc else []), str(BENCH / "node_server.mjs")]
    argv += ["--port", str(port), "--rate", str(rate), "--ids", ",".join(ids), "--stop-with-stdin"]
    child = await children.start("node", argv, cwd=BENCH)
    said = await child.receive(within_s=30)
    if said.get("listening") != port:
        raise child.failure(f"expected {{'listening': {port}}}, got {said}")
    return Server("node", f"http://127.0.0.1:{port}", child)


async def start_stock(children: Children, rate: float, ids: list[str]) -> Server:
    port = free_port()
    argv = [sys.executable, str(BENCH / "stock_server.py"), "--port", str(port), "--rate", str(rate)]
    child = await children.start("stock", [*argv, "--ids", ",".join(ids)], cwd=ROOT, talk=False)
    await wait_for_port(child, port)
    return Server("stock", f"http://127.0.0.1:{port}", child)


async def start_server(
    kind: str, children: Children, workdir: Path, rate: float, ids: list[str], *, max_clients: int = 0
) -> Server:
    """Start the server `kind` (hub, node or stock) producing `rate` messages/s over `ids` (0: idle)."""
    if kind == "hub":
        return await start_hub(children, workdir, rate, ids, max_clients=max_clients or None)
    if kind == "node":
        return await start_node(children, rate, ids, expose_gc=True)
    if kind == "stock":
        return await start_stock(children, rate, ids)
    raise ValueError(f"unknown server {kind!r}; choose from {', '.join(SERVERS)}")


async def node_heap_settled(server: Server) -> dict[str, Any]:
    """The node server's memory after a full garbage collection (it runs with --expose-gc)."""
    await server.child.send("memory")
    return await server.child.receive(within_s=30)
