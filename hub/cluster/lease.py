"""Which process leads: a lease on the bus (a key with an expiry), renewed while held."""

from __future__ import annotations

import asyncio
import logging

from hub.cluster.bus import Bus, BusError
from hub.cluster.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

LEASE_S = 5.0
"""A leader that stops renewing (killed, frozen, cut off from Redis) is replaced at most this long after."""

RENEW_S = 1.0
"""How often the leader renews the lease, and how often the others try to take it."""


class Lease:
    """The lease `key` on `bus`, contended for by this process: taken, kept by renewing it every RENEW_S,
    given up. `held` says whether this process believes it holds it."""

    def __init__(self, bus: Bus, key: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.bus = bus
        self.key = key
        self.clock = clock
        self.held = False

    async def acquire(self) -> None:
        """Wait until this process holds the lease."""
        unreachable = False
        while True:
            try:
                if await self.bus.acquire(self.key, LEASE_S):
                    self.held = True
                    return
            except BusError as error:
                if not unreachable:  # once per outage
                    log.warning("cannot reach the bus to contend for the lease: %s; retrying", error)
                unreachable = True
            else:
                unreachable = False
            await self.clock.sleep(RENEW_S)

    async def keep(self) -> None:
        """Renew the lease every RENEW_S; return when a renewal fails or is late. That happens at least
        LEASE_S - 2 * RENEW_S before the lease expires, which leaves the leader time to stop its source
        and write its log before another process may take over."""
        while True:
            await self.clock.sleep(RENEW_S)
            try:
                async with asyncio.timeout(RENEW_S):
                    renewed = await self.bus.renew(self.key, LEASE_S)
            except (BusError, TimeoutError) as error:
                reason = f"{type(error).__name__}: {error}"
            else:
                if renewed:
                    continue
                reason = "another process holds it"
            self.held = False
            log.error("lost the lease %s (%s)", self.key, reason)
            return

    async def release(self) -> None:
        """Give the lease up now, so that another process takes over without waiting for it to expire."""
        if not self.held:
            return
        self.held = False
        try:
            released = await self.bus.release(self.key)
        except BusError as error:
            log.warning("could not release the lease %s: %s; it expires by itself", self.key, error)
        else:
            if not released:
                log.warning("could not release the lease %s: it was no longer held", self.key)
