"""The attacks of the security review, each replayed against a real hub beside a normal client.

One hub (`python main.py`, SQLite log, the simulator producing `RATE_HZ` values a second of one id) runs for
the whole bench. A watcher (python-socketio, in this process) subscribes to that id; each attack then runs
for `--seconds` from a process of its own (this script with `--attacker NAME`), so that the attacker's
CPU is not the watcher's. For each attack the bench prints the watcher's latency (p50 and p99, from the
message's own timestamp to its arrival), the values it missed (compared with the log), the hub's CPU and
resident memory over the attack, and the refusals `/metrics` counted.

    .venv/bin/python bench/attacks.py [--seconds 8] [--only resume-flood,command-flood]

Figures depend on the machine: compare the watcher's latency under attack with its latency at rest (the
`baseline` row) in the same run. On a 2-core machine the attacker, the hub and the watcher share the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import socketio
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import bench and hub

from bench.processes import Children
from bench.servers import get_json, start_hub
from hub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RATE_HZ = 100.0
DEFAULT_ADDRESS_BUDGET = {
    f"HUB_{name.upper()}": str(Settings.model_fields[name].default)
    for name in ("address_event_rate", "address_event_burst")
}
"""The hub's defaults, which the benchmark's other hubs lift (their load generators share one address)."""
ID = "bench_0"


# --- the attackers (each runs in a process of its own) -------------------------------------------------


def ws_url(url: str) -> str:
    return url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"


async def raw(url: str, **options: Any) -> websockets.ClientConnection:
    """A bare Engine.IO websocket connected to the default namespace."""
    ws = await websockets.connect(
        ws_url(url), max_size=None, ping_interval=None, close_timeout=0.1, **options
    )
    await ws.recv()
    await ws.send("40")
    await ws.recv()
    return ws


async def pipelined(url: str, frames: Callable[[int], list[str | bytes]], until: float) -> None:
    """Connect, send `frames(round)` without waiting for anything, read what comes back; reconnect when the
    hub closes the connection; until the deadline."""
    round_ = 0
    while time.monotonic() < until:
        try:
            ws = await raw(url)
            reader = asyncio.create_task(_drain(ws))
            for frame in frames(round_):
                await ws.send(frame)
                if time.monotonic() > until:
                    break
            round_ += 1
            await asyncio.sleep(0)
            reader.cancel()
            await ws.close()
        except (websockets.ConnectionClosed, OSError):
            await asyncio.sleep(0.01)


async def _drain(ws: websockets.ClientConnection) -> None:
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        return


async def resume_flood(url: str, until: float) -> None:
    """3,000 pipelined subscribe-with-since and unsubscribe events per connection (165 KB on the wire)."""
    subscribe = f'["subscribe",{{"ids":["{ID}"],"since":1}}]'
    unsubscribe = f'["unsubscribe",{{"ids":["{ID}"]}}]'
    await pipelined(url, lambda _: [f"42{i}{(subscribe, unsubscribe)[i % 2]}" for i in range(3000)], until)


async def subscribe_churn(url: str, until: float) -> None:
    """Single-id subscribe/unsubscribe without acks, as fast as the socket takes them."""
    names = ("subscribe", "unsubscribe")
    frames: list[str | bytes] = [f'42["{names[i % 2]}",{{"ids":["{ID}"]}}]' for i in range(2000)]
    await pipelined(url, lambda _: frames, until)


async def command_flood(url: str, until: float) -> None:
    """Twenty connections pipelining commands."""
    command = '["command",{"command":"set_mode","parameters":{"mode":"safe"}}]'
    frames: list[str | bytes] = [f"42{i}{command}" for i in range(2000)]
    await asyncio.gather(*(pipelined(url, lambda _: frames, until) for _ in range(20)))


async def bad_packets(url: str, until: float) -> None:
    """Bare `42` packets (each used to log two tracebacks), a connection after another."""
    await pipelined(url, lambda _: ["42"] * 50, until)


async def attachments(url: str, until: float) -> None:
    """A packet announcing 99,999,999 attachments, then 990 KB binary frames."""
    header: list[str | bytes] = ['4599999999-["subscribe",{"_placeholder":true,"num":0}]']
    chunk = b"\x00" * 990_000
    await pipelined(url, lambda _: header + [chunk] * 200, until)


async def polling_handshakes(url: str, until: float) -> None:
    """Long-polling handshakes with a 1 MB header, and bare handshakes that never connect."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        big = {"X-Big": "x" * 1_000_000}
        while time.monotonic() < until:
            requests = [http.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=big)]
            requests += [
                http.get("/socket.io/", params={"EIO": "4", "transport": "polling"}) for _ in range(20)
            ]
            await asyncio.gather(*requests, return_exceptions=True)


async def polling_disconnect_command(url: str, until: float) -> None:
    """Long-polling POSTs of a command and a disconnect together (the identity attack), over and over."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        params = {"EIO": "4", "transport": "polling"}
        while time.monotonic() < until:
            opened = await http.get("/socket.io/", params=params)
            sid = json.loads(opened.text[1:])["sid"]
            session = params | {"sid": sid}
            await http.post("/socket.io/", params=session, content=b"40")
            await http.get("/socket.io/", params=session)
            body = '420["command",{"command":"set_mode","parameters":{"mode":"safe"}}]\x1e41'
            await http.post("/socket.io/", params=session, content=body.encode())


ATTACKS: dict[str, Callable[[str, float], Coroutine[Any, Any, None]]] = {
    "resume-flood": resume_flood,
    "subscribe-churn": subscribe_churn,
    "command-flood": command_flood,
    "bad-packets": bad_packets,
    "attachments": attachments,
    "polling-handshakes": polling_handshakes,
    "polling-disconnect-command": polling_disconnect_command,
}


# --- the harness ---------------------------------------------------------------------------------------


class Watcher:
    """A normal client subscribed to the bench id: the latency and seq of every value it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.latencies: list[float] = []
        self.seqs: list[int] = []
        self.sio.on("data", self._data)

    async def _data(self, message: dict[str, Any]) -> None:
        sent = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).timestamp()
        self.latencies.append(time.time() - sent)
        self.seqs.append(message["seq"])

    def mark(self) -> int:
        return len(self.seqs)


async def logged_seqs(url: str, after: int, upto: int) -> list[int]:
    """The seqs of the bench id's data in the log, in (after, upto]."""
    seqs: list[int] = []
    params: dict[str, Any] = {"ids": ID, "type": "data", "after_seq": after, "limit": 10_000}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while True:
            page = (await http.get("/historical-data", params=params)).json()
            seqs += [item["seq"] for item in page["items"] if item["seq"] <= upto]
            if page["next"] is None or (page["items"] and page["items"][-1]["seq"] > upto):
                return seqs
            params["cursor"] = page["next"]


def refusals(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("hub_client_refusals_total{"):
            kind = line.split('kind="')[1].split('"')[0]
            counts[kind] = float(line.rsplit(" ", 1)[1])
    return counts


async def measure(
    name: str, url: str, watcher: Watcher, child: Any, seconds: float, children: Children
) -> dict[str, Any]:
    before = refusals(url)
    first = watcher.mark()
    cpu, rss = child.cpu_seconds(), child.rss_bytes()
    peak = rss
    started = time.monotonic()
    attacker = None
    if name != "baseline":
        argv = [sys.executable, __file__, "--attacker", name, "--url", url, "--seconds", str(seconds)]
        attacker = await children.start(name, argv, cwd=ROOT, talk=False)
    while time.monotonic() - started < seconds:
        await asyncio.sleep(0.25)
        peak = max(peak, child.rss_bytes())
    if attacker is not None:
        await attacker.process.wait()
    elapsed = time.monotonic() - started
    health_ok = get_json(f"{url}/health")["status"]
    await asyncio.sleep(0.5)  # the last values in flight arrive
    received = watcher.seqs[first:]
    latencies = sorted(watcher.latencies[first:])
    missed = 0
    if received:
        missed = len(set(await logged_seqs(url, received[0] - 1, received[-1])) - set(received))
    after = refusals(url)
    return {
        "attack": name,
        "values": len(received),
        "missed": missed,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "hub_cpu_pct": round((child.cpu_seconds() - cpu) / elapsed * 100),
        "rss_growth_mb": round((peak - rss) / 1e6, 1),
        "health": health_ok,
        "refusals": {k: int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)},
    }


async def bench(seconds: float, only: list[str]) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        async with Children(Path(workdir)) as children:
            env = {"HUB_LOG_LEVEL": "warning"} | DEFAULT_ADDRESS_BUDGET
            hub = await start_hub(children, Path(workdir), RATE_HZ, [ID], env=env)
            watcher = Watcher()
            await watcher.sio.connect(hub.url, transports=["websocket"])
            await watcher.sio.call("subscribe", {"ids": [ID]})
            await asyncio.sleep(3)  # a log to replay
            print(f"hub {hub.url}, {RATE_HZ:g} values/s of {ID}, {seconds:g} s per attack", flush=True)
            for name in ["baseline", *only]:
                row = await measure(name, hub.url, watcher, hub.child, seconds, children)
                print(json.dumps(row), flush=True)
            await watcher.sio.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", default=",".join(ATTACKS), help="comma-separated attacks")
    parser.add_argument("--attacker", choices=ATTACKS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker:
        asyncio.run(ATTACKS[args.attacker](args.url, time.monotonic() + args.seconds))
        return
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        parser.error(f"unknown attacks {unknown}; choose from {', '.join(ATTACKS)}")
    asyncio.run(bench(args.seconds, names))


if __name__ == "__main__":
    main()
