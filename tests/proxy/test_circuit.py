"""The health probe against real HTTP: when a proxy's backoff is over, ``GET /v2/`` on it decides whether
it is asked again (any answer below 500 is alive), in the background, without any pull waiting on it.
The upstreams are fakes on purpose (tests/support/fake_upstream.py): a real registry cannot be told to
answer 500 to /v2/."""

from __future__ import annotations

from cargohold.errors import FailureKind, UpstreamFailedError
from cargohold.models import Proxy, Repository
from cargohold.proxy.client import UpstreamClient
from cargohold.proxy.health import HealthBook
from cargohold.proxy.resolver import ProxiesExhaustedError, ProxyResolver, UpstreamPool
from tests.proxy.test_resolver import Clock, Directory, Sleeper
from tests.proxy_e2e.upstreams import closed_port
from tests.support.fake_upstream import Answer, FakeUpstream

REPOSITORY = Repository(name="hub", id=3)


async def _down(client: UpstreamClient) -> str:
    raise UpstreamFailedError("refused", kind=FailureKind.UNREACHABLE)


async def _up(client: UpstreamClient) -> str:
    return "answer"


async def test_a_probe_answered_below_500_closes_the_circuit_and_a_500_keeps_it_open() -> None:
    clock = Clock()
    sleeper = Sleeper(clock)
    pool = UpstreamPool(read_timeout=5)
    async with FakeUpstream() as upstream:
        upstream.storage["/v2/"] = Answer(status=503)
        subject = ProxyResolver(
            Directory([Proxy("up", upstream.url)]),  # type: ignore[arg-type]
            pool,
            HealthBook(base_backoff=5, max_backoff=60, clock=clock),
            sleep=sleeper,
        )
        try:
            await _exhausted(subject, _down)
            await sleeper.asleep()
            sleeper.advance(5)
            await sleeper.asleep()  # probed: 503, so it backs off again (10 s)
            assert [seen.path for seen in upstream.seen] == ["/v2/"]
            skipped = await _exhausted(subject)
            assert skipped.outcomes[0].outcome == "unreachable"
            assert "GET /v2/ answered 503" in skipped.outcomes[0].message

            upstream.storage["/v2/"] = Answer(status=401)  # an auth challenge is an answer: alive
            sleeper.advance(10)
            await subject.probes_done()
            assert [seen.path for seen in upstream.seen] == ["/v2/", "/v2/"]
            assert all(seen.authorization is None for seen in upstream.seen)
            proxy, answer = await subject.first_answer(REPOSITORY, _up)
            assert (proxy.name, answer) == ("up", "answer")
        finally:
            await subject.close()
            await pool.close()


async def test_a_probe_that_cannot_connect_keeps_the_proxy_skipped() -> None:
    clock = Clock()
    sleeper = Sleeper(clock)
    pool = UpstreamPool(read_timeout=5)
    dead = Proxy("dead", f"http://127.0.0.1:{closed_port()}", connection_timeout_ms=500)
    subject = ProxyResolver(
        Directory([dead]),  # type: ignore[arg-type]
        pool,
        HealthBook(base_backoff=5, max_backoff=60, clock=clock),
        sleep=sleeper,
    )
    try:
        await _exhausted(subject, _down)
        await sleeper.asleep()
        sleeper.advance(5)
        await sleeper.asleep()
        outcome = (await _exhausted(subject, _up)).outcomes[0]
        assert outcome.outcome == "unreachable"
        assert "health probe" in outcome.message
        assert "cannot connect" in outcome.message
    finally:
        await subject.close()
        await pool.close()


async def _exhausted(subject: ProxyResolver, operation: object = _up) -> ProxiesExhaustedError:
    try:
        await subject.first_answer(REPOSITORY, operation)  # type: ignore[arg-type]
    except ProxiesExhaustedError as error:
        return error
    raise AssertionError("a proxy answered")
