"""Usage statistics of repositories and their proxies: ``StatsRecorder`` counts what the pull path does in
memory (cheap, synchronous calls) and ``flush()`` adds the deltas to the database counters, which add up
across worker processes; ``StatsReader`` reads them back, with each proxy's health and backoff as the
serving process's ``HealthBook`` sees it. The recorder also batches manifest and blob pulls for their
``last_pulled_at`` (``pulled``, ``blob_pulled``), written by the same ``flush()``.

Counters of a repository: ``requests`` (manifest and blob pulls), ``cache_hits`` / ``cache_misses``,
``bytes_served_from_cache``, ``bytes_fetched_upstream``, ``stale_served``, ``evictions`` and
``evicted_bytes`` (added by ``cargohold.registry.eviction``), ``uncached_pulls`` and ``uncached_bytes`` (blobs
served through without caching for want of disk space). Of a proxy: ``requests`` (times
it was asked), ``hits`` (it delivered), ``misses`` (it did not have it), ``bytes_fetched`` and
``failures.<kind>`` by ``FailureKind``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cargohold.errors import NameUnknownError
from cargohold.metadata.base import RepositoryStore, StatsStore
from cargohold.models import Digest
from cargohold.proxy.health import HealthBook

__all__ = ["ProxyStats", "RepositoryStats", "StatsReader", "StatsRecorder"]

log = logging.getLogger(__name__)

REPOSITORY = ""
"""The proxy name under which a repository's own counters are kept."""
FAILURES = "failures."


@dataclass(frozen=True)
class ProxyStats:
    proxy: str
    requests: int
    hits: int
    misses: int
    bytes_fetched: int
    failures: dict[str, int]
    """By ``cargohold.errors.FailureKind`` value; only kinds that happened."""
    healthy: bool
    backoff_seconds: float
    last_failure: str | None


@dataclass(frozen=True)
class RepositoryStats:
    repository: str
    requests: int
    cache_hits: int
    cache_misses: int
    bytes_served_from_cache: int
    bytes_fetched_upstream: int
    stale_served: int
    proxies: tuple[ProxyStats, ...]
    evictions: int = 0
    evicted_bytes: int = 0
    uncached_pulls: int = 0
    """Blobs sent straight through from a proxy without caching them (no room on the disk)."""
    uncached_bytes: int = 0


class StatsRecorder:
    """In-memory deltas of the counters; the pull path calls the recording methods, a timer calls
    ``flush()`` every few seconds (and once at close)."""

    def __init__(self, metadata: StatsStore, on_fetched: Callable[[], None] | None = None) -> None:
        self._metadata = metadata
        self._on_fetched = on_fetched
        """Called (synchronously, so cheaply) whenever a proxy delivered something: the cache grew."""
        self._deltas: Counter[tuple[int, str, str]] = Counter()
        self._pulls: dict[tuple[int, str, Digest], datetime] = {}
        self._blob_pulls: dict[tuple[int, str, Digest], datetime] = {}

    def request(self, repository_id: int, hit: bool, bytes_from_cache: int = 0) -> None:
        """A manifest or blob request of the repository, answered from the cache (``hit``) or not."""
        deltas = self._deltas
        deltas[(repository_id, REPOSITORY, "requests")] += 1
        deltas[(repository_id, REPOSITORY, "cache_hits" if hit else "cache_misses")] += 1
        if bytes_from_cache:
            deltas[(repository_id, REPOSITORY, "bytes_served_from_cache")] += bytes_from_cache

    def fetched(self, repository_id: int, proxy: str, nbytes: int) -> None:
        """``proxy`` delivered ``nbytes`` (a manifest or a blob)."""
        deltas = self._deltas
        deltas[(repository_id, proxy, "requests")] += 1
        deltas[(repository_id, proxy, "hits")] += 1
        if nbytes:
            deltas[(repository_id, proxy, "bytes_fetched")] += nbytes
            deltas[(repository_id, REPOSITORY, "bytes_fetched_upstream")] += nbytes
        if self._on_fetched is not None:
            self._on_fetched()

    def not_found(self, repository_id: int, proxy: str) -> None:
        """``proxy`` was asked and does not have it."""
        self._deltas[(repository_id, proxy, "requests")] += 1
        self._deltas[(repository_id, proxy, "misses")] += 1

    def failure(self, repository_id: int, proxy: str, kind: str) -> None:
        """``proxy`` was asked and failed; ``kind`` is a ``FailureKind`` value."""
        self._deltas[(repository_id, proxy, "requests")] += 1
        self._deltas[(repository_id, proxy, FAILURES + str(kind))] += 1

    def uncached(self, repository_id: int, proxy: str, nbytes: int) -> None:
        """A blob was sent straight through from ``proxy`` without caching it (no room on the disk)."""
        deltas = self._deltas
        deltas[(repository_id, REPOSITORY, "uncached_pulls")] += 1
        deltas[(repository_id, REPOSITORY, "uncached_bytes")] += nbytes
        deltas[(repository_id, proxy, "requests")] += 1
        deltas[(repository_id, proxy, "hits")] += 1
        if nbytes:
            deltas[(repository_id, proxy, "bytes_fetched")] += nbytes
            deltas[(repository_id, REPOSITORY, "bytes_fetched_upstream")] += nbytes

    def stale(self, repository_id: int) -> None:
        """A stale cached tag was served because every proxy failed."""
        self._deltas[(repository_id, REPOSITORY, "stale_served")] += 1

    def pulled(self, repository_id: int, image: str, digest: Digest, when: datetime | None = None) -> None:
        """A manifest was pulled (its ``last_pulled_at``; written with the counters, latest time wins)."""
        key = (repository_id, image, digest)
        at = when or datetime.now(UTC)
        if key not in self._pulls or self._pulls[key] < at:
            self._pulls[key] = at

    def blob_pulled(self, repository_id: int, image: str, digest: Digest) -> None:
        """A blob linked into the image was read (its ``last_pulled_at``; written in the same batches)."""
        self._blob_pulls[(repository_id, image, digest)] = datetime.now(UTC)

    @property
    def pending(self) -> int:
        """How many counters and pulls wait for the next flush."""
        return len(self._deltas) + len(self._pulls) + len(self._blob_pulls)

    async def flush(self) -> None:
        """Add the deltas to the database and record the pulls. What cannot be written is kept for the next
        flush (and the error is raised for the caller to log)."""
        if self._deltas:
            deltas, self._deltas = self._deltas, Counter()
            try:
                await self._metadata.add_to_counters(dict(deltas))
            except BaseException:
                deltas.update(self._deltas)  # what was recorded meanwhile
                self._deltas = deltas
                raise
        if self._pulls:
            pulls, self._pulls = self._pulls, {}
            try:
                await self._metadata.record_pulls([(*key, at) for key, at in pulls.items()])
            except BaseException:
                for key, at in self._pulls.items():  # what was recorded meanwhile is newer
                    pulls[key] = at
                self._pulls = pulls
                raise
        if self._blob_pulls:
            blob_pulls, self._blob_pulls = self._blob_pulls, {}
            try:
                await self._metadata.record_blob_pulls([(*key, at) for key, at in blob_pulls.items()])
            except BaseException:
                blob_pulls.update(self._blob_pulls)
                self._blob_pulls = blob_pulls
                raise


class StatsReader:
    """The counters of a repository and its current proxies (in priority order), with health."""

    def __init__(
        self,
        repositories: RepositoryStore,
        stats: StatsStore,
        health: HealthBook,
        before_read: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._repositories = repositories
        self._stats = stats
        self._health = health
        self._before_read = before_read
        """Called before reading, so counts this process has not yet written show up."""

    async def repository(self, name: str) -> RepositoryStats:
        """NameUnknownError for an unknown repository."""
        if self._before_read is not None:
            await self._before_read()
        repository = await self._repositories.get_repository(name)
        if repository is None or repository.id is None:
            raise NameUnknownError(f"repository {name[:80]!r} unknown")
        counters = await self._stats.counters(repository.id)
        proxies = await self._repositories.list_proxies(repository.id)

        def count(proxy: str, counter: str) -> int:
            return counters.get((proxy, counter), 0)

        proxy_stats = []
        for proxy in proxies:
            key = (repository.id, proxy.name)
            state = self._health.state(key)
            failures = {
                counter.removeprefix(FAILURES): value
                for (owner, counter), value in sorted(counters.items())
                if owner == proxy.name and counter.startswith(FAILURES)
            }
            last = state.last_message or (state.last_failure.value if state.last_failure else None)
            proxy_stats.append(
                ProxyStats(
                    proxy=proxy.name,
                    requests=count(proxy.name, "requests"),
                    hits=count(proxy.name, "hits"),
                    misses=count(proxy.name, "misses"),
                    bytes_fetched=count(proxy.name, "bytes_fetched"),
                    failures=failures,
                    healthy=not state.open,
                    backoff_seconds=round(self._health.backoff_remaining(key), 3),
                    last_failure=last,
                )
            )
        return RepositoryStats(
            repository=repository.name,
            requests=count(REPOSITORY, "requests"),
            cache_hits=count(REPOSITORY, "cache_hits"),
            cache_misses=count(REPOSITORY, "cache_misses"),
            bytes_served_from_cache=count(REPOSITORY, "bytes_served_from_cache"),
            bytes_fetched_upstream=count(REPOSITORY, "bytes_fetched_upstream"),
            stale_served=count(REPOSITORY, "stale_served"),
            proxies=tuple(proxy_stats),
            evictions=count(REPOSITORY, "evictions"),
            evicted_bytes=count(REPOSITORY, "evicted_bytes"),
            uncached_pulls=count(REPOSITORY, "uncached_pulls"),
            uncached_bytes=count(REPOSITORY, "uncached_bytes"),
        )
