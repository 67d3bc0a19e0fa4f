"""What one measurement window delivered: completeness and latency, merged over the load generators.

Completeness of a window [t0, t1) (message timestamps, i.e. production times), precisely:

1. every client stayed connected and received a message stamped at or after t1 within the drain time, so
   nothing of the window could still arrive (delivery is in seq order);
2. each client received the window's data messages exactly once (no duplicate) and in strictly increasing
   seq order (counting the notifications it received between them), and only of ids it subscribed;
3. each client's set of seqs equals the union U of the sets of all clients (nobody missed what another got);
4. U has no hole that is not a notification's seq: every seq the server handed out inside the window's range
   reached the clients (servers number all their messages with one counter);
5. |U| is at least the offered rate times the window minus one message per id (a sample on each id may
   straddle an edge): the server produced what was offered, it did not fall behind or skip.

A step passes when it is complete and its p99 latency is at most 200 ms.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Interval = tuple[int, int]
P99_LIMIT_MS = 200.0


@dataclass
class Latency:
    samples: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    min_ms: float | None
    negative: int
    """Samples received before their timestamp (clock granularity; should be ~0)."""


@dataclass
class Delivery:
    clients: int
    connected: int
    duration_s: float
    expected: int
    produced: int
    """Distinct data messages of the window that reached at least one client (|U|)."""
    received: int
    """Data messages of the window received, all clients together."""
    missing: int
    """Sum over clients of the messages of U a client did not receive."""
    duplicates: int
    out_of_order: int
    unexpected: int
    unexplained_gaps: int
    disconnected: int
    not_caught_up: int
    truncated: int
    notifications: dict[str, int]
    latency: Latency
    generator_cpu: list[float]
    """CPU of each load generator process during the window, in cores (1.0: one core fully busy)."""
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def delivered_per_s(self) -> float:
        return self.received / self.duration_s

    @property
    def passed(self) -> bool:
        p99 = self.latency.p99_ms
        return self.complete and p99 is not None and p99 <= P99_LIMIT_MS

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data |= {"complete": self.complete, "passed": self.passed, "delivered_per_s": self.delivered_per_s}
        return data


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent intervals covering the same integers."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def size(intervals: Sequence[Interval]) -> int:
    return sum(end - start + 1 for start, end in intervals)


def percentiles(results: Sequence[dict[str, Any]]) -> Latency:
    """Merge the processes' histograms; a percentile is its bucket's upper bound (at most the max seen)."""
    counts: Counter[int] = Counter()
    per_decade = 200
    negative = 0
    highs: list[float] = []
    lows: list[float] = []
    for result in results:
        latency = result["latency"]
        per_decade = latency["buckets_per_decade"]
        counts.update({int(index): int(n) for index, n in latency["counts"].items()})
        negative += latency["negative"]
        if latency["max_ms"] is not None:
            highs.append(latency["max_ms"])
            lows.append(latency["min_ms"])
    samples = sum(counts.values())
    if not samples:
        return Latency(0, None, None, None, None, negative)
    highest = max(highs)

    def at(fraction: float) -> float:
        rank = math.ceil(fraction * samples)
        seen = 0
        for index in sorted(counts):
            seen += counts[index]
            if seen >= rank:
                upper_ms = 0.001 if index == 0 else 10 ** (index / per_decade) / 1000
                return round(min(upper_ms, highest), 3)
        return highest

    return Latency(samples, at(0.50), at(0.99), round(highest, 3), round(min(lows), 3), negative)


def analyze(
    results: Sequence[dict[str, Any]], rate: float, ids: Sequence[str], duration_s: float
) -> Delivery:
    """Merge the load generators' results of one window into a Delivery (see the module's definition)."""
    clients = [client for result in results for client in result["clients"]]
    sets = [merge([*map(tuple, c["ranges"]), *((s, s) for s in c["late"])]) for c in clients]
    union = merge(interval for intervals in sets for interval in intervals)
    produced = size(union)
    notification_seqs = {n["seq"] for result in results for n in result["notifications"]}
    holes = sum(
        1
        for (_, end), (start, _) in itertools.pairwise(union)
        for seq in range(end + 1, start)
        if seq not in notification_seqs
    )
    expected = round(rate * duration_s)
    connected = [c for c in clients if c["connected"]]
    delivery = Delivery(
        clients=len(clients),
        connected=len(connected),
        duration_s=duration_s,
        expected=expected,
        produced=produced,
        received=sum(c["count"] for c in clients),
        missing=sum(produced - size(s) for s in sets),
        duplicates=sum(c["duplicates"] for c in clients),
        out_of_order=sum(c["out_of_order"] for c in clients),
        unexpected=sum(c["unexpected"] for c in clients),
        unexplained_gaps=holes,
        disconnected=sum(1 for c in connected if c["disconnected"] is not None),
        not_caught_up=sum(1 for c in connected if not c["caught_up"]),
        truncated=sum(1 for c in clients if c["truncated"]),
        notifications=dict(Counter(n["code"] for result in results for n in result["notifications"])),
        latency=percentiles(results),
        generator_cpu=[
            round((r["cpu"]["user_s"] + r["cpu"]["system_s"]) / r["cpu"]["wall_s"], 3) for r in results
        ],
    )
    checks = [
        (delivery.connected < delivery.clients, f"{delivery.clients - delivery.connected} not connected"),
        (delivery.disconnected > 0, f"{delivery.disconnected} disconnected"),
        (delivery.not_caught_up > 0, f"{delivery.not_caught_up} still behind after the drain"),
        (delivery.duplicates > 0, f"{delivery.duplicates} duplicates"),
        (delivery.out_of_order > 0, f"{delivery.out_of_order} out of order"),
        (delivery.unexpected > 0, f"{delivery.unexpected} of ids not subscribed"),
        (delivery.truncated > 0, f"{delivery.truncated} too fragmented to compare"),
        (delivery.missing > 0, f"{delivery.missing} missed by some clients"),
        (holes > 0, f"{holes} seqs reached no client"),
        (produced < expected - len(ids), f"produced {produced} of {expected}"),
    ]
    delivery.problems = [problem for failed, problem in checks if failed]
    return delivery
