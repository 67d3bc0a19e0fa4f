"""Token buckets: `rate` tokens a second on average, up to `burst` at once.

One bucket costs a few floats, kept in the object it limits (a connection's events, its commands, an
address's events); the `limits` package's asyncio memory storage would add a background expiry task for the
same job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def take(self) -> float:
        """Take one token: 0.0 if there was one, else the seconds until one is available."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def full(self) -> bool:
        """Whether the bucket has refilled to its burst (it has forgotten every take)."""
        self._refill()
        return self.tokens >= self.burst

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
