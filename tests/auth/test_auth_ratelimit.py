"""FailureLimiter: a sliding window of failures per key, the wait it answers with, and its bound on keys."""

from __future__ import annotations

from cargohold.auth.ratelimit import FailureLimiter


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allowance_then_wait_until_the_oldest_failure_leaves_the_window() -> None:
    ticks = Ticks()
    limiter = FailureLimiter(3, 300, clock=ticks)
    for _ in range(2):
        limiter.fail("bob")
        ticks.now += 10
    assert limiter.retry_after("bob") is None
    limiter.fail("bob")  # at 1020; the failures are at 1000, 1010, 1020
    assert limiter.retry_after("bob") == 280
    assert limiter.retry_after("alice") is None
    ticks.now = 1300.5  # the first failure has left the window
    assert limiter.retry_after("bob") is None
    limiter.fail("bob")
    assert limiter.retry_after("bob") == 10  # now the one at 1010 must leave


def test_a_waiting_key_gets_at_least_one_second() -> None:
    ticks = Ticks()
    limiter = FailureLimiter(1, 300, clock=ticks)
    limiter.fail("k")
    ticks.now += 299.99
    assert limiter.retry_after("k") == 1
    ticks.now += 0.01
    assert limiter.retry_after("k") is None


def test_memory_is_bounded_dropping_the_least_recent_keys() -> None:
    ticks = Ticks()
    limiter = FailureLimiter(1, 300, max_keys=3, clock=ticks)
    for key in ("a", "b", "c", "d"):
        limiter.fail(key)
    assert limiter.retry_after("a") is None  # forgotten
    assert all(limiter.retry_after(key) == 300 for key in ("b", "c", "d"))
