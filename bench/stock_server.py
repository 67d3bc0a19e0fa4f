"""Stock python-socketio, as its documentation shows it, with the hub's streaming contract: a baseline.

    .venv/bin/python bench/stock_server.py --port 8001 --rate 1000 --ids bench_0,bench_1

The same behaviour as bench/node_server.mjs: `subscribe` {"ids": [...]} enters room "telemetry:<id>" per id
and returns {"ok": true, "subscribed": [sorted set]}; a producer emits `data` messages {"type", "id", "value",
"timestamp", "seq"} to those rooms, every id at rate/ids Hz, all ids due at the same instants, each message
timestamped with its scheduled time and numbered by one counter; each wake-up emits everything due (awaiting
each `emit`, the library's ordinary way). No optimizations: AsyncServer(async_mode="asgi") on uvicorn with its
defaults, per-message deflate off as in the hub. --rate 0: no producer. Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import socketio
import uvicorn

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_timestamp(time_us: int) -> str:
    return (EPOCH + timedelta(microseconds=time_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_app(rate: float, ids: list[str]) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(async_mode="asgi")
    subscriptions: dict[str, set[str]] = {}
    producer: list[asyncio.Task[None]] = []

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: Any, auth: Any = None) -> None:
        subscriptions[sid] = set()

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, reason: Any = None) -> None:
        subscriptions.pop(sid, None)

    @sio.event  # type: ignore[untyped-decorator]
    async def subscribe(sid: str, payload: Any) -> dict[str, Any]:
        wanted = payload.get("ids") if isinstance(payload, dict) else None
        if not isinstance(wanted, list) or not set(wanted) <= set(ids):
            return {"ok": False, "error": {"code": "unknown_telemetry_type", "message": "unknown ids"}}
        for telemetry_id in wanted:
            await sio.enter_room(sid, f"telemetry:{telemetry_id}")
        subscriptions[sid].update(wanted)
        return {"ok": True, "subscribed": sorted(subscriptions[sid])}

    async def produce() -> None:
        period = len(ids) / rate
        # time.monotonic, not loop.time: uvloop's loop clock is cached per iteration, in milliseconds
        start, anchor_us = time.monotonic(), round(time.time() * 1e6)
        slot = seq = 0
        while True:
            now = time.monotonic() - start
            while slot * period <= now:
                offset = slot * period
                timestamp = format_timestamp(anchor_us + round(offset * 1e6))
                for telemetry_id in ids:
                    wave = 50 + 10 * math.sin(2 * math.pi * offset / 60) + random.random() - 0.5
                    seq += 1
                    message = {
                        "type": "data",
                        "id": telemetry_id,
                        "value": round(wave, 3),
                        "timestamp": timestamp,
                        "seq": seq,
                    }
                    await sio.emit("data", message, room=f"telemetry:{telemetry_id}")
                slot += 1
            # whole milliseconds, as Node's setTimeout and the hub's simulator: uvloop rounds a shorter sleep
            # to zero, and the loop would spin a core waiting for the next slot
            delay = slot * period - (time.monotonic() - start)
            await asyncio.sleep(math.ceil(max(0.0, delay) * 1000) / 1000)

    async def startup() -> None:
        if rate > 0:
            producer.append(asyncio.create_task(produce()))

    async def shutdown() -> None:
        for task in producer:
            task.cancel()
        await asyncio.gather(*producer, return_exceptions=True)

    return socketio.ASGIApp(sio, on_startup=startup, on_shutdown=shutdown)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--rate", type=float, default=0.0, help="messages per second over all ids")
    parser.add_argument("--ids", default="bench_0", help="comma-separated telemetry ids")
    args = parser.parse_args()
    app = create_app(args.rate, args.ids.split(","))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws_per_message_deflate=False)


if __name__ == "__main__":
    main()
