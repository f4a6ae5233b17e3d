"""Asking a repository's proxies in priority order (docs/pull-flow.md).

The active proxies are tried one after the other: *not found* passes to the next; a *failure* passes to the
next and starts that proxy's backoff, during which it is skipped. The first proxy that answers wins. When
none does, ``ProxiesExhaustedError`` carries what each one did, so the caller can tell "nobody has it" (404)
from "nobody could be asked" (503, or 429 when the upstreams rate-limited).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cargohold.errors import CargoholdError, FailureKind, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Proxy, Repository
from cargohold.proxy.client import UpstreamClient
from cargohold.proxy.health import HealthBook
from cargohold.proxy.stats import StatsRecorder
from cargohold.registry.directory import RepositoryDirectory

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProxyOutcome:
    """What one proxy did with a request that it did not answer."""

    proxy_name: str
    outcome: str
    """'not found', 'skipped', or the failure kind."""
    message: str
    retry_after: int | None = None

    def describe(self) -> str:
        return f"{self.proxy_name}: {self.message}"

    def as_detail(self) -> dict[str, object]:
        return {"proxy": self.proxy_name, "outcome": self.outcome, "message": self.message}


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
        return all(outcome.outcome == "not found" for outcome in self.outcomes)

    @property
    def rate_limited(self) -> bool:
        """True when every proxy that did not answer 'not found' was rate limiting."""
        failed = [outcome for outcome in self.outcomes if outcome.outcome != "not found"]
        return bool(failed) and all(outcome.outcome == FailureKind.RATE_LIMITED.value for outcome in failed)

    @property
    def retry_after(self) -> int | None:
        waits = [outcome.retry_after for outcome in self.outcomes if outcome.retry_after is not None]
        return min(waits) if waits else None


class UpstreamPool:
    """One upstream client per proxy setting: a changed URL, credential, TLS or timeout gets its own."""

    def __init__(self, read_timeout: float) -> None:
        self._read_timeout = read_timeout
        self._clients: dict[tuple[object, ...], UpstreamClient] = {}

    def client(self, proxy: Proxy) -> UpstreamClient:
        key = (
            proxy.id,
            proxy.name,
            proxy.url,
            proxy.username,
            proxy.password,
            proxy.ssl_validation,
            proxy.connection_timeout_ms,
        )
        client = self._clients.get(key)
        if client is None:
            client = UpstreamClient(proxy, read_timeout=self._read_timeout)
            self._clients[key] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


class ProxyResolver:
    def __init__(
        self,
        directory: RepositoryDirectory,
        pool: UpstreamPool,
        health: HealthBook,
        stats: StatsRecorder | None = None,
    ) -> None:
        self._directory = directory
        self._pool = pool
        self._health = health
        self._stats = stats

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
    ) -> tuple[Proxy, T]:
        """Run ``operation`` against the active proxies in priority order (``prefer`` first, or ``only``
        that one, never those in ``avoid``: they sent bad bytes of what is asked) and return the first
        answer; raise ProxiesExhaustedError when none gives one."""
        assert repository.id is not None
        proxies = await self.active_proxies(repository)
        if only is not None:
            proxies = [proxy for proxy in proxies if proxy.name == only]
        elif prefer is not None:
            proxies.sort(key=lambda proxy: proxy.name != prefer)
        outcomes: list[ProxyOutcome] = []
        for proxy in proxies:
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
            waiting = self._health.backoff_remaining(key)
            if waiting > 0:
                state = self._health.state(key)
                outcomes.append(
                    ProxyOutcome(
                        proxy.name,
                        state.last_failure.value if state.last_failure else "skipped",
                        f"skipped for {waiting:.0f} s more after {state.last_message}",
                        state.retry_after,
                    )
                )
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
                log.warning(
                    "proxy %s of repository %s failed (%s): %s; skipping it for %.0f s",
                    proxy.name,
                    repository.name,
                    error.kind.value,
                    error.message,
                    backoff,
                )
                outcomes.append(ProxyOutcome(proxy.name, error.kind.value, error.message, error.retry_after))
                continue
            self._health.succeeded(key)
            return proxy, answer
        raise ProxiesExhaustedError(outcomes)

    def record_failure(self, repository: Repository, proxy_name: str, error: UpstreamFailedError) -> None:
        """A failure found after the answer began (a body that broke off or did not match its digest)."""
        assert repository.id is not None
        self._count_failure(repository.id, proxy_name, error)
        self._health.failed((repository.id, proxy_name), error.kind, error.message, error.retry_after)

    def _count_failure(self, repository_id: int, proxy_name: str, error: UpstreamFailedError) -> None:
        if self._stats is not None:
            self._stats.failure(repository_id, proxy_name, error.kind.value)
