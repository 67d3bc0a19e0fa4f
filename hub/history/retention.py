"""Retention: logged messages older than HUB_HISTORY_RETENTION_S are deleted, at least once a minute.

Only the process that writes the log applies it (the hub's `leading`); a failed deletion is logged and tried
again at the next turn.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hub.history.log import HistoryLog
from hub.messages import to_micros

log = logging.getLogger(__name__)

LONGEST_WAIT_S = 60.0
"""The longest wait between two deletions (a shorter retention is applied that often)."""


async def expire(history: HistoryLog, retention_s: float) -> int:
    """Delete logged messages older than `retention_s`; return how many."""
    return await history.delete(to_micros(time.time() - retention_s))


async def apply(history: HistoryLog, retention_s: float) -> None:
    """Delete old messages every `retention_s` (at most every minute) until cancelled."""
    while True:
        try:
            deleted = await expire(history, retention_s)
        except Exception:
            log.exception("retention: deleting old messages failed; trying again later")
        else:
            if deleted:
                log.info("retention: deleted %d messages older than %g s", deleted, retention_s)
        await asyncio.sleep(min(retention_s, LONGEST_WAIT_S))
