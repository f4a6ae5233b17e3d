"""Asking a repository's proxies in priority order (docs/pull-flow.md).

The active proxies are tried one after the other: *not found* passes to the next; a *failure* passes to the
next and counts against that proxy's health (``cargohold.proxy.health``): while its circuit is open it is
skipped. The first proxy that answers wins. When none does, ``ProxiesExhaustedError`` carries what each one
did, so the caller can tell "nobody has it" (404) from "nobody could be asked" (503, or 429 when the
upstreams rate-limited).

When a circuit opens, a background task waits out the backoff and then probes the proxy with a cheap
``GET /v2/`` (any answer below 500 means alive): pulls never have to find out the hard way whether a proxy
is back. One probe runs per proxy at a time; ``close()`` stops them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cargohold.errors import CargoholdError, FailureKind, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Proxy, Repository
from cargohold.proxy.client import UpstreamClient
from cargohold.proxy.health import HealthBook, ProxyKey
from cargohold.proxy.stats import StatsRecorder
from cargohold.registry.directory import RepositoryDirectory
from cargohold.registry.name_rules import describe_rules, proxy_allows
from cargohold.registry.networks import NetworkPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")

Ping = Callable[[Proxy], Awaitable[int]]
"""The health probe of one proxy: the HTTP status of its ``GET /v2/``; raises UpstreamError when it
cannot be asked at all."""
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ProxyOutcome:
    """What one proxy did with a request that it did not answer."""

    proxy_name: str
    outcome: str
    """'not found', 'excluded by name rules', 'skipped', or the failure kind."""
    message: str
    retry_after: int | None = None

    def describe(self) -> str:
        return f"{self.proxy_name}: {self.message}"

    def as_detail(self) -> dict[str, object]:
        return {"proxy": self.proxy_name, "outcome": self.outcome, "message": self.message}


EXCLUDED = "excluded by name rules"
"""The outcome of a proxy whose name rules do not allow the image: it was not asked."""
NOT_ASKED_OR_NOT_FOUND = frozenset({"not found", EXCLUDED})


class ProxiesExhaustedError(CargoholdError):
    """no proxy answered"""

    def __init__(self, outcomes: list[ProxyOutcome]) -> None:
        summary = (
            "; ".join(outcome.describe() for outcome in outcomes) or "the repository has no active proxy"
        )
        super().__init__(summary, detail=[outcome.as_detail() for outcome in outcomes])
        self.outcomes = outcomes

    @property
    def nobody_has_it(self) -> bool:
        """True when every proxy that was asked answered 'not found' (or there was none to ask)."""
        return all(outcome.outcome in NOT_ASKED_OR_NOT_FOUND for outcome in self.outcomes)

    @property
    def rate_limited(self) -> bool:
        """True when every proxy that did not answer 'not found' was rate limiting."""
        failed = [outcome for outcome in self.outcomes if outcome.outcome not in NOT_ASKED_OR_NOT_FOUND]
        return bool(failed) and all(outcome.outcome == FailureKind.RATE_LIMITED.value for outcome in failed)

    @property
    def retry_after(self) -> int | None:
        waits = [outcome.retry_after for outcome in self.outcomes if outcome.retry_after is not None]
        return min(waits) if waits else None


class UpstreamPool:
    """One upstream client per proxy setting: a changed URL, credential, TLS or timeout gets its own, and the
    client of the proxy's previous settings is retired (its session closes once nothing uses it)."""

    def __init__(
        self,
        read_timeout: float,
        *,
        min_bytes_per_second: float = 0.0,
        throughput_window: float = 30.0,
        policy: NetworkPolicy | None = None,
    ) -> None:
        self._policy = policy
        self._read_timeout = read_timeout
        self._min_rate = min_bytes_per_second
        self._rate_window = throughput_window
        self._clients: dict[object, tuple[tuple[object, ...], UpstreamClient]] = {}
        self._retired: list[UpstreamClient] = []

    def client(self, proxy: Proxy) -> UpstreamClient:
        settings = (
            proxy.name,
            proxy.url,
            proxy.username,
            proxy.password,
            proxy.ssl_validation,
            proxy.connection_timeout_ms,
            proxy.answer_timeout_ms,
            proxy.private_networks_approved,
        )
        identity = proxy.id if proxy.id is not None else settings
        known = self._clients.get(identity)
        if known is not None and known[0] == settings:
            return known[1]
        if known is not None:
            known[1].retire()
            self._retired = [old for old in self._retired if not old.closed]
            self._retired.append(known[1])
        client = UpstreamClient(
            proxy,
            read_timeout=self._read_timeout,
            min_bytes_per_second=self._min_rate,
            throughput_window=self._rate_window,
            policy=self._policy,
        )
        self._clients[identity] = (settings, client)
        return client

    async def close(self) -> None:
        clients = [client for _, client in self._clients.values()] + self._retired
        self._clients, self._retired = {}, []
        for client in clients:
            await client.close()


class ProxyResolver:
    def __init__(
        self,
        directory: RepositoryDirectory,
        pool: UpstreamPool,
        health: HealthBook,
        stats: StatsRecorder | None = None,
        *,
        ping: Ping | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._directory = directory
        self._pool = pool
        self._health = health
        self._stats = stats
        self._ping = ping or self._ping_client
        self._sleep = sleep
        self._probes: dict[ProxyKey, asyncio.Task[None]] = {}

    async def active_proxies(self, repository: Repository) -> list[Proxy]:
        return [proxy for proxy in await self._directory.proxies(repository) if proxy.active]

    async def first_answer(
        self,
        repository: Repository,
        operation: Callable[[UpstreamClient], Awaitable[T]],
        *,
        prefer: str | None = None,
        only: str | None = None,
        avoid: frozenset[str] = frozenset(),
        hold_on_failure: bool = False,
        image: str | None = None,
    ) -> tuple[Proxy, T]:
        """Run ``operation`` against the active proxies in priority order (``prefer`` first, or ``only``
        that one, never those in ``avoid``: they sent bad bytes of what is asked) and return the first
        answer; raise ProxiesExhaustedError when none gives one. With ``hold_on_failure`` (a tag that is
        cached) a proxy that fails or is backing off ends the walk: the lower-priority proxies are not asked,
        so an outage never swaps the name for another proxy's content (docs/security.md). A proxy whose name
        rules do not allow ``image`` is not asked (``cargohold.registry.name_rules``)."""
        assert repository.id is not None
        proxies = await self.active_proxies(repository)
        if only is not None:
            proxies = [proxy for proxy in proxies if proxy.name == only]
        elif prefer is not None:
            proxies.sort(key=lambda proxy: proxy.name != prefer)
        outcomes: list[ProxyOutcome] = []
        for proxy in proxies:
            if image is not None and not proxy_allows(proxy, image):
                outcomes.append(
                    ProxyOutcome(
                        proxy.name,
                        EXCLUDED,
                        f"not asked: its name rules ({describe_rules(proxy)}) do not allow {image}",
                    )
                )
                continue
            if proxy.name in avoid:
                outcomes.append(
                    ProxyOutcome(
                        proxy.name,
                        FailureKind.BAD_CONTENT.value,
                        "skipped: it sent a corrupt or short body of this lately",
                    )
                )
                continue
            key = (repository.id, proxy.name)
            if not self._health.may_ask(key):
                self._watch(repository, proxy.name)
                outcomes.append(self._skipped(key, proxy.name))
                if hold_on_failure:
                    break
                continue
            try:
                answer = await operation(self._pool.client(proxy))
            except UpstreamNotFoundError as error:
                outcomes.append(ProxyOutcome(proxy.name, "not found", error.message))
                if self._stats is not None:
                    self._stats.not_found(repository.id, proxy.name)
                continue
            except UpstreamFailedError as error:
                self._count_failure(repository.id, proxy.name, error)
                backoff = self._health.failed(key, error.kind, error.message, error.retry_after)
                if backoff > 0:
                    self._watch(repository, proxy.name)
                    log.warning(
                        "proxy %s of repository %s failed (%s): %s; skipping it for %.0f s",
                        proxy.name,
                        repository.name,
                        error.kind.value,
                        error.message,
                        backoff,
                    )
                else:
                    log.warning(
                        "proxy %s of repository %s failed (%s): %s",
                        proxy.name,
                        repository.name,
                        error.kind.value,
                        error.message,
                    )
                outcomes.append(ProxyOutcome(proxy.name, error.kind.value, error.message, error.retry_after))
                if hold_on_failure:
                    break
                continue
            self._health.succeeded(key)
            return proxy, answer
        raise ProxiesExhaustedError(outcomes)

    def record_failure(
        self, repository: Repository, proxy_name: str, error: UpstreamFailedError, *, request: str
    ) -> None:
        """A failure found after the answer began (a body that broke off, crawled or did not match its
        digest): a failure of that one ``request``, never of the connection as a whole."""
        assert repository.id is not None
        self._count_failure(repository.id, proxy_name, error)
        key = (repository.id, proxy_name)
        if self._health.failed(key, error.kind, error.message, request=request, connection=False) > 0:
            self._watch(repository, proxy_name)

    async def close(self) -> None:
        """Stop the health probes."""
        probes, self._probes = list(self._probes.values()), {}
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)

    async def probes_done(self) -> None:
        """Wait for the running health probes (for tests)."""
        await asyncio.gather(*self._probes.values(), return_exceptions=True)

    # --- health probes -------------------------------------------------------------------------------

    def _skipped(self, key: ProxyKey, proxy_name: str) -> ProxyOutcome:
        state = self._health.state(key)
        waiting = self._health.backoff_remaining(key)
        why = f"for {waiting:.0f} s more" if waiting > 0 else "until a health probe finds it alive"
        return ProxyOutcome(
            proxy_name,
            state.last_failure.value if state.last_failure else "skipped",
            f"skipped {why} after {state.last_message}",
            state.retry_after,
        )

    def _watch(self, repository: Repository, proxy_name: str) -> None:
        """Make sure a probe will close the proxy's open circuit once its backoff is over."""
        assert repository.id is not None
        key = (repository.id, proxy_name)
        running = self._probes.get(key)
        if running is not None and not running.done():
            return
        task = asyncio.get_running_loop().create_task(
            self._probe(key, repository, proxy_name), name=f"probe {proxy_name}"
        )
        self._probes[key] = task
        task.add_done_callback(
            lambda done: self._probes.pop(key, None) if self._probes.get(key) is done else None
        )

    async def _probe(self, key: ProxyKey, repository: Repository, proxy_name: str) -> None:
        while not self._health.may_ask(key):
            waiting = self._health.backoff_remaining(key)
            if waiting > 0:
                await self._sleep(waiting)
                continue
            proxy = next((p for p in await self.active_proxies(repository) if p.name == proxy_name), None)
            if proxy is None:
                return  # removed or switched off: a change forgets its health anyway
            try:
                status = await self._ping(proxy)
            except UpstreamFailedError as error:
                alive, message = False, f"health probe: {error.message}"
            except Exception as error:  # any other failure of the probe is not "alive" either
                alive, message = False, f"health probe failed: {error.__class__.__name__}"
            else:
                alive, message = status < 500, f"health probe: GET /v2/ answered {status}"
            if not self._health.half_open(key):
                continue  # a request or a configuration change decided meanwhile
            backoff = self._health.probed(key, alive, message)
            if alive:
                log.info(
                    "proxy %s of repository %s is alive again (%s)", proxy_name, repository.name, message
                )
            else:
                log.warning(
                    "proxy %s of repository %s is still down (%s); skipping it for %.0f s",
                    proxy_name,
                    repository.name,
                    message,
                    backoff,
                )

    async def _ping_client(self, proxy: Proxy) -> int:
        return await self._pool.client(proxy).ping()

    def _count_failure(self, repository_id: int, proxy_name: str, error: UpstreamFailedError) -> None:
        if self._stats is not None:
            self._stats.failure(repository_id, proxy_name, error.kind.value)
