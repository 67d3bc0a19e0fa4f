"""Which process leads: a lease in Redis (redis-py's Lock, a key with an expiry), renewed while held."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

log = logging.getLogger(__name__)

LEASE_S = 5.0
"""A leader that stops renewing (killed, frozen, cut off from Redis) is replaced at most this long after."""

RENEW_S = 1.0
"""How often the leader renews the lease, and how often the others try to take it."""


class Lease:
    def __init__(self, redis: Redis, key: str, holder: str) -> None:
        self.key = key
        self.holder = holder
        self._lock = redis.lock(key, timeout=LEASE_S, blocking=False, thread_local=False)
        self.held = False

    async def acquire(self) -> None:
        """Wait until this process holds the lease."""
        unreachable = False
        while True:
            try:
                if await self._lock.acquire(token=self.holder):
                    self.held = True
                    return
            except RedisError as error:
                if not unreachable:  # once per outage
                    log.warning("cannot reach Redis to contend for the lease: %s; retrying", error)
                unreachable = True
            else:
                unreachable = False
            await asyncio.sleep(RENEW_S)

    async def keep(self) -> None:
        """Renew the lease every RENEW_S; return when a renewal fails or is late. That happens at least
        LEASE_S - 2 * RENEW_S before the lease expires, which leaves the leader time to stop its source
        and write its log before another process may take over."""
        while True:
            await asyncio.sleep(RENEW_S)
            try:
                async with asyncio.timeout(RENEW_S):
                    await self._lock.reacquire()
            except (LockError, RedisError, TimeoutError) as error:
                self.held = False
                log.error("lost the lease %s (%s: %s)", self.key, type(error).__name__, error)
                return

    async def release(self) -> None:
        """Give the lease up now, so that another process takes over without waiting for it to expire."""
        if not self.held:
            return
        self.held = False
        try:
            await self._lock.release()
        except (LockError, RedisError) as error:
            log.warning("could not release the lease %s: %s; it expires by itself", self.key, error)
