"""Priority-ordered failover across a repository's proxies (unit level; the end-to-end tests in
tests/proxy_e2e show the same against real upstreams). The "upstreams" here are stand-ins that answer
with the outcome each test needs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cargohold.errors import FailureKind, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Proxy, Repository
from cargohold.proxy.health import HealthBook
from cargohold.proxy.resolver import ProxiesExhaustedError, ProxyResolver

REPOSITORY = Repository(name="hub", id=7)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Sleeper:
    """An injected ``sleep`` that returns when the test moves the clock past its end."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sleeping: list[tuple[float, asyncio.Future[None]]] = []
        self.called = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self.sleeping.append((self.clock.now + seconds, woken))
        self.called.set()
        await woken

    async def asleep(self) -> None:
        """Wait until something went to sleep (again)."""
        await self.called.wait()
        self.called.clear()

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        for until, woken in list(self.sleeping):
            if until <= self.clock.now:
                self.sleeping.remove((until, woken))
                woken.set_result(None)


class Directory:
    def __init__(self, proxies: list[Proxy]) -> None:
        self.list = proxies

    async def proxies(self, repository: Repository) -> tuple[Proxy, ...]:
        return tuple(self.list)


class Pool:
    """Hands out the proxy itself as its 'client'; the operation decides what each proxy does."""

    def client(self, proxy: Proxy) -> Any:
        return proxy


def resolver(proxies: list[Proxy], clock: Clock | None = None) -> ProxyResolver:
    health = HealthBook(base_backoff=10, max_backoff=60, clock=clock or Clock())
    return ProxyResolver(Directory(proxies), Pool(), health)  # type: ignore[arg-type]


def behaving(outcomes: dict[str, object], asked: list[str]) -> Any:
    async def operation(proxy: Proxy) -> object:
        asked.append(proxy.name)
        outcome = outcomes[proxy.name]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return operation


def failure(kind: FailureKind, retry_after: int | None = None) -> UpstreamFailedError:
    return UpstreamFailedError(f"{kind.value}!", kind=kind, retry_after=retry_after)


async def test_the_first_active_proxy_that_answers_wins_and_inactive_ones_are_never_asked() -> None:
    proxies = [Proxy("a", "http://a"), Proxy("off", "http://off", active=False), Proxy("b", "http://b")]
    asked: list[str] = []
    outcomes: dict[str, object] = {"a": UpstreamNotFoundError("404"), "off": "never", "b": "from b"}
    proxy, answer = await resolver(proxies).first_answer(REPOSITORY, behaving(outcomes, asked))
    assert (proxy.name, answer, asked) == ("b", "from b", ["a", "b"])


async def test_a_failed_proxy_is_skipped_during_its_backoff_and_asked_again_once_a_probe_finds_it_alive() -> (
    None
):
    clock = Clock()
    sleeper = Sleeper(clock)
    pinged: list[str] = []

    async def ping(proxy: Proxy) -> int:
        pinged.append(proxy.name)
        return 200

    health = HealthBook(base_backoff=10, max_backoff=60, clock=clock)
    subject = ProxyResolver(
        Directory([Proxy("flaky", "http://f"), Proxy("steady", "http://s")]),  # type: ignore[arg-type]
        Pool(),  # type: ignore[arg-type]
        health,
        ping=ping,
        sleep=sleeper,
    )
    asked: list[str] = []
    outcomes: dict[str, object] = {"flaky": failure(FailureKind.TIMEOUT), "steady": "ok"}
    await subject.first_answer(REPOSITORY, behaving(outcomes, asked))
    await subject.first_answer(REPOSITORY, behaving(outcomes, asked))
    assert asked == ["flaky", "steady", "steady"]
    await sleeper.asleep()
    assert pinged == []
    sleeper.advance(10)
    await subject.probes_done()
    assert pinged == ["flaky"]
    outcomes["flaky"] = "back"
    proxy, answer = await subject.first_answer(REPOSITORY, behaving(outcomes, asked))
    assert (proxy.name, answer) == ("flaky", "back")


async def test_prefer_asks_one_proxy_first_and_only_asks_nobody_else() -> None:
    subject = resolver([Proxy("a", "http://a"), Proxy("b", "http://b")])
    asked: list[str] = []
    outcomes: dict[str, object] = {"a": "from a", "b": "from b"}
    assert (await subject.first_answer(REPOSITORY, behaving(outcomes, asked), prefer="b"))[1] == "from b"
    outcomes["b"] = UpstreamNotFoundError("404")
    with pytest.raises(ProxiesExhaustedError):
        await subject.first_answer(REPOSITORY, behaving(outcomes, asked), only="b")
    assert asked == ["b", "b"]


async def test_exhaustion_tells_not_found_from_rate_limited_from_unavailable() -> None:
    subject = resolver([Proxy("a", "http://a"), Proxy("b", "http://b")])
    with pytest.raises(ProxiesExhaustedError) as nobody:
        await subject.first_answer(
            REPOSITORY, behaving({"a": UpstreamNotFoundError(), "b": UpstreamNotFoundError()}, [])
        )
    assert nobody.value.nobody_has_it
    limited = {"a": failure(FailureKind.RATE_LIMITED, 30), "b": UpstreamNotFoundError()}
    with pytest.raises(ProxiesExhaustedError) as rate:
        await resolver([Proxy("a", "http://a"), Proxy("b", "http://b")]).first_answer(
            REPOSITORY, behaving(limited, [])
        )
    assert (rate.value.nobody_has_it, rate.value.rate_limited, rate.value.retry_after) == (False, True, 30)
    mixed = {"a": failure(FailureKind.RATE_LIMITED, 30), "b": failure(FailureKind.TLS)}
    with pytest.raises(ProxiesExhaustedError) as down:
        await resolver([Proxy("a", "http://a"), Proxy("b", "http://b")]).first_answer(
            REPOSITORY, behaving(mixed, [])
        )
    assert not down.value.rate_limited
    assert [entry["outcome"] for entry in down.value.detail] == ["rate_limited", "tls"]  # type: ignore[union-attr]
