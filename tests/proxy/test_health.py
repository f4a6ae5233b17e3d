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


def test_one_failing_request_leaves_the_circuit_closed_however_often_it_is_repeated() -> None:
    book = HealthBook(base_backoff=5, max_backoff=300, clock=Clock(), threshold=5, window=60)
    for _ in range(20):
        assert book.failed(KEY, FailureKind.SERVER_ERROR, "manifest odd:1: server error (500)") == 0
    assert book.may_ask(KEY)
    assert book.state(KEY).last_failure is FailureKind.SERVER_ERROR


def test_distinct_failing_requests_within_the_window_open_the_circuit_at_the_threshold() -> None:
    clock = Clock()
    book = HealthBook(base_backoff=5, max_backoff=300, clock=clock, threshold=5, window=60)
    for tag in range(4):
        assert book.failed(KEY, FailureKind.SERVER_ERROR, f"manifest app:{tag}: 500") == 0
        clock.now += 10
    assert book.may_ask(KEY)
    assert book.failed(KEY, FailureKind.SERVER_ERROR, "manifest app:4: 500") == 5
    assert not book.may_ask(KEY)
    assert book.backoff_remaining(KEY) == 5


def test_request_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    book = HealthBook(clock=clock, threshold=3, window=60)
    book.failed(KEY, FailureKind.SERVER_ERROR, "a")
    clock.now += 61
    book.failed(KEY, FailureKind.SERVER_ERROR, "b")
    assert book.failed(KEY, FailureKind.SERVER_ERROR, "c") == 0
    assert book.may_ask(KEY)


def test_a_success_forgets_the_request_failures() -> None:
    book = HealthBook(clock=Clock(), threshold=2, window=60)
    book.failed(KEY, FailureKind.BAD_CONTENT, "a")
    book.succeeded(KEY)
    assert book.failed(KEY, FailureKind.BAD_CONTENT, "b") == 0
    assert book.may_ask(KEY)


def test_a_body_failure_counts_per_request_even_when_it_timed_out() -> None:
    book = HealthBook(clock=Clock(), threshold=2, window=60)
    assert book.failed(KEY, FailureKind.TIMEOUT, "crawls", request="blob a", connection=False) == 0
    assert book.failed(KEY, FailureKind.TIMEOUT, "crawls", request="blob a", connection=False) == 0
    assert book.may_ask(KEY)
    assert book.failed(KEY, FailureKind.TIMEOUT, "crawls", request="blob b", connection=False) > 0


def test_after_the_backoff_the_circuit_is_half_open_until_a_probe_decides() -> None:
    clock = Clock()
    book = HealthBook(base_backoff=5, max_backoff=300, clock=clock)
    book.failed(KEY, FailureKind.UNREACHABLE, "refused")
    assert not book.half_open(KEY)
    clock.now += 5
    assert book.half_open(KEY)
    assert not book.may_ask(KEY), "pulls do not test a proxy: the probe does"
    assert book.probed(KEY, alive=False, message="probe: refused") == 10
    assert not book.may_ask(KEY)
    assert book.state(KEY).last_message == "probe: refused"
    clock.now += 10
    assert book.probed(KEY, alive=True) == 0
    assert book.may_ask(KEY)
    assert book.failed(KEY, FailureKind.UNREACHABLE, "refused") == 20, "no request succeeded in between"


def test_a_probe_does_not_cut_a_rate_limit_short() -> None:
    clock = Clock()
    book = HealthBook(base_backoff=5, max_backoff=300, clock=clock)
    book.failed(KEY, FailureKind.RATE_LIMITED, "429", retry_after=120)
    clock.now += 119
    assert not book.half_open(KEY)
    assert book.probed(KEY, alive=True) > 0
    assert not book.may_ask(KEY)
