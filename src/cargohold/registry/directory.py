"""Repositories and their proxies as the request path reads them: from memory.

Every /v2 request needs its repository and a pull needs the repository's proxies; both change rarely (the
config file at start, the management API now and then). The directory keeps a snapshot of all of them,
taken again when it is older than ``ttl`` seconds or after ``invalidate()`` (called by whatever changed
them in this process). Another worker process sees a change within ``ttl``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cargohold.metadata.base import RepositoryStore
from cargohold.models import Proxy, Repository


@dataclass(frozen=True, slots=True)
class _Snapshot:
    taken_at: float
    by_name: dict[str, Repository] = field(default_factory=dict)
    by_host: dict[str, Repository] = field(default_factory=dict)
    default: Repository | None = None
    proxies: dict[int, tuple[Proxy, ...]] = field(default_factory=dict)


class RepositoryDirectory:
    def __init__(
        self, metadata: RepositoryStore, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._metadata = metadata
        self._ttl = ttl
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self._generation = 0
        self._refreshing = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the snapshot: the next lookup reads the database again."""
        self._generation += 1
        self._snapshot = None

    async def repository(self, name: str) -> Repository | None:
        return (await self._current()).by_name.get(name)

    async def default(self) -> Repository | None:
        return (await self._current()).default

    async def for_host(self, host: str) -> Repository | None:
        return (await self._current()).by_host.get(host.lower())

    async def proxies(self, repository: Repository) -> tuple[Proxy, ...]:
        """The repository's proxies in priority order."""
        assert repository.id is not None
        return (await self._current()).proxies.get(repository.id, ())

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - snapshot.taken_at < self._ttl:
            return snapshot
        async with self._refreshing:
            snapshot = self._snapshot
            if snapshot is not None and self._clock() - snapshot.taken_at < self._ttl:
                return snapshot
            generation = self._generation
            fresh = await self._load()
            if generation == self._generation:  # nothing invalidated it while it was being read
                self._snapshot = fresh
            return fresh

    async def _load(self) -> _Snapshot:
        taken_at = self._clock()
        repositories = await self._metadata.list_repositories()
        snapshot = _Snapshot(taken_at)
        for repository in repositories:
            assert repository.id is not None
            snapshot.by_name[repository.name] = repository
            for host in repository.hosts:
                snapshot.by_host.setdefault(host.lower(), repository)
            snapshot.proxies[repository.id] = tuple(await self._metadata.list_proxies(repository.id))
        default = next((repository for repository in repositories if repository.default), None)
        return _Snapshot(taken_at, snapshot.by_name, snapshot.by_host, default, snapshot.proxies)
