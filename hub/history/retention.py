"""Retention: what the log keeps, applied at least once a minute by the process that writes it.

Raw records older than HUB_HISTORY_RETENTION_S are deleted; each rollup tier keeps its buckets for its own
period (HUB_HISTORY_ROLLUP_RETENTION), so charts of older times are still answered from rollups; past
HUB_HISTORY_MAX_BYTES the oldest raw records go, then the oldest rows of the finest tier, and so on. Every
ten minutes a pass also measures every part of the log for /health and /metrics. A failed pass is logged
and tried again at the next turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from hub.history.base import Cutoffs
from hub.history.log import HistoryLog
from hub.history.tiers import Tier
from hub.messages import to_micros

log = logging.getLogger(__name__)

LONGEST_WAIT_S = 60.0
"""The longest wait between two passes (a shorter raw retention is applied that often)."""
MEASURE_EVERY_S = 600.0
"""How often the size and span of each part of the log are measured for /health and /metrics: SQLite's
sizes come from reading every page (about 3 s a gigabyte), too much for every pass."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long raw records are kept (None: until the size bound needs the room), each tier's period
    (in the tiers), and the size bound of the whole log (None: none)."""

    raw_s: float | None = None
    tiers: tuple[Tier, ...] = ()
    max_bytes: int | None = None

    def cutoffs(self, now_s: float) -> Cutoffs:
        now_us = to_micros(now_s)
        raw = None if self.raw_s is None else now_us - to_micros(self.raw_s)
        tiers = {t.name: now_us - t.retention_us for t in self.tiers if t.retention_us is not None}
        return Cutoffs(raw, tiers)


NO_RETENTION = Retention()


async def expire(history: HistoryLog, retention: Retention) -> int:
    """One pass: delete what is past its period, then past the size bound; return how many raw records."""
    deleted = await history.expire(retention.cutoffs(time.time()))
    if retention.max_bytes is not None:
        deleted += await history.trim(retention.max_bytes)
    return deleted


async def apply(history: HistoryLog, retention: Retention) -> None:
    """A pass every `raw_s` (at most every minute) until cancelled; the parts of the log are measured at
    the first pass and then every MEASURE_EVERY_S (measuring reads every page of the file)."""
    measured_at: float | None = None
    while True:
        try:
            deleted = await expire(history, retention)
            if measured_at is None or time.monotonic() - measured_at >= MEASURE_EVERY_S:
                await history.measure_tiers()
                measured_at = time.monotonic()
        except Exception:
            log.exception("retention: deleting old messages failed; trying again later")
        else:
            if deleted:
                log.info("retention: deleted %d messages", deleted)
        await asyncio.sleep(min(retention.raw_s or LONGEST_WAIT_S, LONGEST_WAIT_S))
