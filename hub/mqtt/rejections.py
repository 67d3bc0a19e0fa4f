"""Bad device messages: every one counted, reported to the log and to operators at a bounded rate.

A broken device may send garbage thousands of times a second; neither the log nor the clients may be flooded
with it. Per device, the first bad message is reported at once; later ones are counted, and the next report,
at most one every REPORT_EVERY_S, says how many there were in between.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

REPORT_EVERY_S = 10.0
"""Shortest time between two reports about one device."""
MAX_DEVICES = 1000
"""Devices counted one by one; past this, further device names share one count (a bounded memory)."""
OTHERS = "(other devices)"


@dataclass(slots=True)
class _Tally:
    next_report: float
    unreported: int = 0


class Rejections:
    """The count of bad device messages, in total and per device, and when to report the next one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = 0
        self.by_device: Counter[str] = Counter()
        self._tallies: dict[str, _Tally] = {}
        self._clock = clock

    def reject(self, device: str, topic: str, reason: str) -> str | None:
        """Count a bad message from `device` on `topic`; the text to report now, or None while reporting on
        this device is throttled."""
        self.total += 1
        key = device if device in self.by_device or len(self.by_device) < MAX_DEVICES else OTHERS
        self.by_device[key] += 1
        now = self._clock()
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally(next_report=now)
        if now < tally.next_report:
            tally.unreported += 1
            return None
        skipped = tally.unreported
        tally.next_report, tally.unreported = now + REPORT_EVERY_S, 0
        more = f" ({skipped} more from {key} since the last report)" if skipped else ""
        return f"refused a message on {topic}: {reason}{more}"
