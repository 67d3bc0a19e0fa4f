"""Per-client command rate limiting: a token bucket per client.

A bucket is a rate and a burst: `rate` commands a second on average, up to `burst` at once. This is kept
in-process and costs two floats per client; the `limits` package's asyncio memory storage would add a
background expiry task for the same job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client: str) -> float:
        """Take one token for `client`: 0.0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(client, _Bucket(float(self.burst), now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def forget(self, client: str) -> None:
        self._buckets.pop(client, None)
