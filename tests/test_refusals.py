"""Refusals are all counted and logged once per kind, client and interval, however many a client causes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hub.transport.refusals import RefusalKind, RefusalLog
from tests.conftest import RunningHub

SET_MODE = {"command": "set_mode", "parameters": {"mode": "safe"}}


def test_one_line_per_kind_client_and_interval(caplog: pytest.LogCaptureFixture) -> None:
    """Within an interval a kind is logged once per client; the next line says how many were left out."""
    caplog.set_level(logging.INFO, "hub.transport.refusals")
    counted: list[RefusalKind] = []
    now = [0.0]
    refusals = RefusalLog(counted.append, interval_s=10, clock=lambda: now[0])
    for _ in range(5):
        refusals.note("rate_limited", "a", "a refused")
        refusals.note("rate_limited", "b", "b refused")
    refusals.note("bad_packet", "a", "a sent junk")
    now[0] = 11
    refusals.note("rate_limited", "a", "a refused again")
    assert len(counted) == 12
    assert [r.getMessage() for r in caplog.records] == [
        "a refused", "b refused", "a sent junk", "a refused again (4 more like it from a were not logged)",
    ]  # fmt: skip


@pytest.mark.parametrize("settings", [{"command_burst": 1, "command_rate": 0.01}], indirect=True)
async def test_a_command_flood_writes_one_log_line(
    running: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """A hundred pipelined commands past the budgets are all counted, and logged once per kind of refusal."""
    caplog.set_level(logging.INFO)
    running.source.auto["set_mode"] = ("completed", "ok")
    client = await running.client()
    acks = await asyncio.gather(*(client.call("command", SET_MODE) for _ in range(100)))
    assert sum(1 for a in acks if not a["ok"] and a["error"]["code"] == "rate_limited") == 99
    refusal_lines = [r for r in caplog.records if r.name == "hub.transport.refusals"]
    assert 1 <= len(refusal_lines) <= 2  # a command's own limit, and the connection's 16 events at once
    counted = running.metrics.client_refusals
    assert counted.labels("command_refused")._value.get() + counted.labels("rate_limited")._value.get() == 99
