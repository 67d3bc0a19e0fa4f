"""The token bucket, on a clock the test moves: burst, rate, the time until the next token, `full`."""

from __future__ import annotations

import pytest

from hub.transport.token_bucket import TokenBucket


class Clock:
    """A monotonic clock that only moves when the test says so, by binary fractions of a second (0.125,
    1.5) so that the bucket's arithmetic is exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """A clock standing still until the test advances it."""
    return Clock()


def emptied(bucket: TokenBucket) -> TokenBucket:
    """`bucket` after taking every token it holds now."""
    while bucket.take() == 0.0:
        pass
    return bucket


def test_a_new_bucket_allows_a_burst_then_refuses(clock: Clock) -> None:
    """A new bucket gives `burst` tokens at once, with no time passing, and refuses the next one."""
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() > 0.0


def test_tokens_come_back_at_the_rate(clock: Clock) -> None:
    """An empty bucket gets `rate` tokens a second back: 1.5 s at 4/s allows six takes, not seven."""
    bucket = emptied(TokenBucket(rate=4.0, burst=10, clock=clock))
    clock.advance(1.5)
    assert [bucket.take() for _ in range(6)] == [0.0] * 6
    assert bucket.take() > 0.0


def test_a_refusal_says_how_long_until_the_next_token(clock: Clock) -> None:
    """A refused take returns the seconds until one token has accrued, counting what has accrued already."""
    bucket = emptied(TokenBucket(rate=4.0, burst=1, clock=clock))
    assert bucket.take() == 0.25
    clock.advance(0.125)
    assert bucket.take() == 0.125
    clock.advance(0.125)
    assert bucket.take() == 0.0


def test_a_refusal_takes_nothing(clock: Clock) -> None:
    """Refused takes do not push the next token further away: a client that keeps asking waits no longer."""
    bucket = emptied(TokenBucket(rate=1.0, burst=3, clock=clock))
    for _ in range(10):
        assert bucket.take() == 1.0
    clock.advance(1.0)
    assert bucket.take() == 0.0


def test_an_idle_bucket_holds_no_more_than_its_burst(clock: Clock) -> None:
    """However long a bucket stays unused, it then allows `burst` takes at once and no more."""
    bucket = emptied(TokenBucket(rate=8.0, burst=3, clock=clock))
    clock.advance(3600)
    assert [bucket.take() for _ in range(3)] == [0.0] * 3
    assert bucket.take() == 0.125


def test_full_once_it_has_refilled_to_its_burst(clock: Clock) -> None:
    """`full` holds for a new bucket, not after a take, and again only once the whole burst is back."""
    bucket = TokenBucket(rate=2.0, burst=4, clock=clock)
    assert bucket.full()
    bucket.take()
    assert not bucket.full()
    clock.advance(0.375)  # three quarters of the missing token
    assert not bucket.full()
    clock.advance(0.125)
    assert bucket.full()
