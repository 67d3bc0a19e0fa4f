"""The deadline scheduler: exact spacing at any rate, skipping ahead, rescheduling."""

from __future__ import annotations

import pytest

from simulators.scheduler import Scheduler


def test_scheduler_keeps_fractional_rates_without_drift() -> None:
    """Deadlines of 0.1 and 0.2 Hz ids over a long span are exact multiples of their periods."""
    scheduler = Scheduler({"slow": 0.1, "slower": 0.2, "fast": 10.0})
    due = list(scheduler.pop_due(3600.0))
    assert [t for t, id in due if id == "slow"] == pytest.approx([10.0 * n for n in range(361)])
    assert [t for t, id in due if id == "slower"] == pytest.approx([5.0 * n for n in range(721)])
    assert sum(1 for _, id in due if id == "fast") == 36_001
    assert [t for t, _ in due] == sorted(t for t, _ in due)


def test_scheduler_skips_ahead_instead_of_bursting() -> None:
    """An id far behind moves to its first slot at or after now, and the skipped samples are counted."""
    scheduler = Scheduler({"a": 100.0})
    assert list(scheduler.pop_due(0.0)) == [(0.0, "a")]
    assert scheduler.skip_ahead(5.0) == 499
    assert scheduler.next_due() == pytest.approx(5.0)


def test_a_rate_change_continues_one_new_period_after_the_last_sample() -> None:
    """set_rate drops old deadlines; the next is one new period after the last sample, not before now."""
    scheduler = Scheduler({"a": 1.0, "b": 0.5})
    assert list(scheduler.pop_due(1.0)) == [(0.0, "a"), (0.0, "b"), (1.0, "a")]
    scheduler.set_rate("a", 4.0, now=1.1)
    assert list(scheduler.pop_due(2.0)) == [(1.25, "a"), (1.5, "a"), (1.75, "a"), (2.0, "a"), (2.0, "b")]
    scheduler.set_rate("b", 10.0, now=2.0)
    scheduler.set_rate("a", 0.1, now=2.0)
    assert scheduler.next_due() == pytest.approx(2.1)
    due = list(scheduler.pop_due(3.05))
    assert [t for t, _ in due] == pytest.approx([2.1 + 0.1 * n for n in range(10)])
    assert {id for _, id in due} == {"b"}, "a's next sample is 10 s after its last one"
