"""Backoff of failed proxies: skipped while backing off, asked again when the backoff ends, doubled per
failure up to a cap, stretched by a rate limit's Retry-After, and cleared by a success."""

from __future__ import annotations

from cargohold.errors import FailureKind
from cargohold.proxy.health import HealthBook

KEY = (1, "docker-hub")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_proxy_is_skipped_until_its_backoff_ends() -> None:
    clock = Clock()
    book = HealthBook(base_backoff=5, max_backoff=300, clock=clock)
    assert book.backoff_remaining(KEY) == 0
    assert book.failed(KEY, FailureKind.TIMEOUT, "timed out") == 5
    assert book.backoff_remaining(KEY) == 5
    clock.now += 4.9
    assert book.backoff_remaining(KEY) > 0
    clock.now += 0.1
    assert book.backoff_remaining(KEY) == 0
    assert book.state(KEY).last_failure is FailureKind.TIMEOUT


def test_backoff_doubles_with_each_failure_up_to_the_cap_and_a_success_clears_it() -> None:
    clock = Clock()
    book = HealthBook(base_backoff=5, max_backoff=30, clock=clock)
    backoffs = [book.failed(KEY, FailureKind.UNREACHABLE, "refused") for _ in range(5)]
    assert backoffs == [5, 10, 20, 30, 30]
    book.succeeded(KEY)
    assert book.backoff_remaining(KEY) == 0
    assert book.failed(KEY, FailureKind.UNREACHABLE, "refused") == 5


def test_a_rate_limit_waits_at_least_what_the_upstream_asked() -> None:
    book = HealthBook(base_backoff=5, max_backoff=300, clock=Clock())
    assert book.failed(KEY, FailureKind.RATE_LIMITED, "429", retry_after=120) == 120
    assert book.state(KEY).retry_after == 120
    other = (1, "company")
    assert book.backoff_remaining(other) == 0


def test_forgetting_a_repository_clears_its_proxies_only() -> None:
    book = HealthBook(clock=Clock())
    book.failed((1, "a"), FailureKind.TIMEOUT, "t")
    book.failed((2, "a"), FailureKind.TIMEOUT, "t")
    book.forget(1)
    assert book.backoff_remaining((1, "a")) == 0
    assert book.backoff_remaining((2, "a")) > 0
