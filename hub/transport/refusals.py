"""What the hub refused clients, counted every time and logged once per kind, client address and interval.

A refused client can be made to send the same bad thing thousands of times a second; a log line each (with a
traceback, once) turned 160 KB on the wire into 30 MB of log. Each refusal is counted in `/metrics`
(`hub_client_refusals_total{kind}`); the first of a kind from a client address in an interval is logged, and
the next line of that kind says how many were left out. Keyed by address, not connection: a client that
reconnects after each refusal gets no more lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)

RefusalKind = Literal[
    "bad_packet",
    "idle_session",
    "too_many_attachments",
    "not_connected",
    "rate_limited",
    "flooding",
    "command_refused",
    "header_too_large",
    "too_many_packets",
    "too_many_handshakes",
]
"""Why an inbound event or packet was refused; the label values of hub_client_refusals_total."""

INTERVAL_S = 10.0
MAX_TRACKED = 100_000
"""Clients whose windows are remembered at once; past it, the oldest are forgotten (and logged again)."""


class RefusalLog:
    def __init__(
        self,
        count: Callable[[RefusalKind], None],
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = count
        self._interval_s = interval_s
        self._clock = clock
        self._windows: dict[str, dict[RefusalKind, list[float]]] = {}  # [window start, left out]

    def note(self, kind: RefusalKind, client: str, message: str, level: int = logging.INFO) -> None:
        """Count a refusal of `client`; log `message` unless one of its kind was logged in this interval."""
        self._count(kind)
        now = self._clock()
        windows = self._windows.get(client)
        if windows is None:
            if len(self._windows) >= MAX_TRACKED:
                del self._windows[next(iter(self._windows))]
            windows = self._windows[client] = {}
        window = windows.get(kind)
        if window is not None and now - window[0] < self._interval_s:
            window[1] += 1
            return
        left_out = 0 if window is None else int(window[1])
        windows[kind] = [now, 0]
        more = f" ({left_out} more like it from {client} were not logged)" if left_out else ""
        log.log(level, "%s%s", message, more)
