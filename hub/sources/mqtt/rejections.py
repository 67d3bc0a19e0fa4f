"""Bad device messages: every one counted by device and reason, reported to the log and to operators at a
bounded rate.

A broken device may send garbage thousands of times a second; neither the log nor the clients may be flooded
with it. Per device, the first bad message is reported at once; later ones are counted, and the next report,
at most one every REPORT_EVERY_S, says how many there were in between. The counts are what `/health` and
`/metrics` show, so the devices counted one by one are bounded too.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

RejectionReason = Literal[
    "bad_topic",
    "retained",
    "too_large",
    "not_announced",
    "bad_announcement",
    "bad_payload",
    "bad_value",
    "stale_timestamp",
    "future_timestamp",
    "wrong_device",
    "reserved_code",
]
"""Why a device message was refused: the `reason` of `/health` and of hub_device_messages_rejected_total."""

REPORT_EVERY_S = 10.0
"""Shortest time between two reports about one device."""
MAX_DEVICES = 100
"""Devices counted one by one; past this, further device names share one count, OTHERS, so that neither the
memory nor the metric's series grow with the names a broken or hostile client makes up."""
OTHERS = "(other devices)"
"""Not a device name (those have no parentheses), so no device can pass for it."""


@dataclass(slots=True)
class _Tally:
    next_report: float
    unreported: int = 0


class Rejections:
    """The count of bad device messages, in total, per device and per reason, and when to report the next
    one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_devices: int = MAX_DEVICES) -> None:
        self.total = 0
        self.by_device: Counter[str] = Counter()
        self._by_reason: dict[str, Counter[RejectionReason]] = {}
        self._tallies: dict[str, _Tally] = {}
        self._clock = clock
        self._max_devices = max_devices

    def reject(self, device: str, topic: str, reason: RejectionReason, detail: str) -> str | None:
        """Count a bad message from `device` on `topic`; the text to report now (with `detail`), or None
        while reporting on this device is throttled."""
        self.total += 1
        key = device if device in self.by_device or len(self.by_device) < self._max_devices else OTHERS
        self.by_device[key] += 1
        reasons = self._by_reason.get(key)
        if reasons is None:
            reasons = self._by_reason[key] = Counter()
        reasons[reason] += 1
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
        return f"refused a message on {topic}: {detail}{more}"

    def counts(self) -> dict[str, dict[str, int]]:
        """A copy of the counts: device (or OTHERS) -> reason -> messages refused."""
        return {
            device: {reason: n for reason, n in reasons.items()}
            for device, reasons in self._by_reason.items()
        }
