"""The deadline scheduler: which telemetry sample is due when, at any mix of rates.

A heap holds each id's next deadline. A sample's time is `base + n * period` (its n-th slot since the rate was
last set), so consecutive samples are exactly one period apart and rounding errors never accumulate into
drift, whatever the rate. Times are seconds on the caller's clock (the simulator uses seconds since start).
A rate change starts a new generation for its id; heap entries of older generations are dropped when popped.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class _Slot:
    base: float
    period: float
    n: int = 0
    generation: int = 0

    def due(self) -> float:
        return self.base + self.n * self.period


class Scheduler:
    """Deadlines of every id; the caller pops what is due, then sleeps until `next_due()`."""

    def __init__(self, rates: Mapping[str, float], start: float = 0.0) -> None:
        for id, rate in rates.items():
            if not rate > 0.0:
                raise ValueError(f"rate of {id!r} must be positive, got {rate!r}")
        self._slots = {id: _Slot(base=start, period=1.0 / rate) for id, rate in rates.items()}
        self._heap = [(start, id, 0) for id in self._slots]
        heapq.heapify(self._heap)

    def __contains__(self, id: str) -> bool:
        return id in self._slots

    def next_due(self) -> float | None:
        """The earliest deadline, or None when there is nothing to schedule."""
        heap = self._heap
        while heap and heap[0][2] != self._slots[heap[0][1]].generation:
            heapq.heappop(heap)  # an entry from before a rate change
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> Iterator[tuple[float, str]]:
        """Yield (scheduled time, id) for every sample due at or before `now`, in time order.

        Each yielded sample moves its id to the next slot, so a fast id may come several times in one call.
        """
        heap = self._heap
        slots = self._slots
        while heap and heap[0][0] <= now:
            due, id, generation = heap[0]
            slot = slots[id]
            if generation != slot.generation:
                heapq.heappop(heap)
                continue
            slot.n += 1
            # heapreplace is one sift instead of pop + push: the emit path runs thousands of times a second.
            heapq.heapreplace(heap, (slot.base + slot.n * slot.period, id, generation))
            yield due, id

    def skip_ahead(self, now: float) -> int:
        """Move every id that is behind to its first slot at or after `now`; returns how many were skipped."""
        skipped = 0
        for slot in self._slots.values():
            if slot.due() < now:
                first = math.ceil((now - slot.base) / slot.period)
                skipped += first - slot.n
                slot.n = first
        self._heap = [(slot.due(), id, slot.generation) for id, slot in self._slots.items()]
        heapq.heapify(self._heap)
        return skipped

    def set_rate(self, id: str, rate: float, now: float) -> None:
        """Produce `id` at `rate` from now on: one new period after its last sample, but not before `now`."""
        if not rate > 0.0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        slot = self._slots[id]
        period = 1.0 / rate
        start = now if slot.n == 0 else max(now, slot.base + (slot.n - 1) * slot.period + period)
        self._slots[id] = _Slot(base=start, period=period, generation=slot.generation + 1)
        heapq.heappush(self._heap, (start, id, slot.generation + 1))
