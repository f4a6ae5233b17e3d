"""Eviction: cached image versions go, least recently pulled first, when a limit is crossed, until usage is
back under the low-water mark; and cached versions not pulled for a repository's ``evict_unused_after_days``.

Limits (high-water marks): a repository's ``max_cached_bytes`` (its cached content), the store's
``max_bytes`` (every digest once) and ``min_free_bytes`` (the data directory's disk). Once one is crossed,
eviction goes on until the usage is ``low_water`` of the limit (for the free space: until the bytes evicted
cover the missing free space and the same margin). Pushed content is never evicted, nor a pinned version,
nor a cached manifest a local tag points at.

Eviction removes metadata only (``StorageStore.evict_version``); the garbage collector then removes the
bytes nothing references any more (a disk-space eviction asks it to run at once). Evicted content is fetched
again through the proxies on its next pull, as if it had never been cached.

``Evictor.run`` is one pass; ``Evictor.serve`` runs passes in the background: when ``nudge()`` says content
was fetched (a limit may be crossed) and every ``interval`` seconds (which also applies the age policy). One
pass at a time across worker processes and servers: a ``flock`` on ``<data_dir>/evict.lock`` and
``StorageStore.eviction_lock`` (the garbage collector's approach, with its own lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cargohold.metadata.base import InventoryStore, RepositoryStore, StatsStore, StorageStore
from cargohold.models import Repository, StoreUsage
from cargohold.registry.gc import try_flock
from cargohold.registry.versions import ImageVersion, cached_versions
from cargohold.storage.base import DiskSpace

log = logging.getLogger(__name__)

LOCK_FILE: Final = "evict.lock"
MAX_ROUNDS: Final = 8
"""Passes over a repository's versions before giving up on reaching the low-water mark (each round
re-reads the usage: sizes are estimates while versions share blobs)."""
NUDGE_DELAY_SECONDS: Final = 1.0
"""A nudge waits this long for more fetches to finish, so a burst of them makes one pass."""


@dataclass(frozen=True, slots=True)
class EvictionPolicy:
    max_bytes: int = 0
    min_free_bytes: int = 0
    low_water: float = 0.9


@dataclass(frozen=True, slots=True)
class Evicted:
    repository: str
    image: str
    digest: str
    tags: tuple[str, ...]
    size: int
    reason: str
    """``quota`` (max_cached_bytes), ``unused`` (evict_unused_after_days), ``store`` (max_bytes) or
    ``disk`` (min_free_bytes)."""


@dataclass(slots=True)
class EvictionReport:
    evicted: list[Evicted] = field(default_factory=list)

    @property
    def bytes_evicted(self) -> int:
        return sum(item.size for item in self.evicted)


class Evictor:
    def __init__(
        self,
        repositories: RepositoryStore,
        storage: StorageStore,
        inventory: InventoryStore,
        stats: StatsStore,
        *,
        lock_path: Path,
        policy: EvictionPolicy,
        space: Callable[[], DiskSpace] | None = None,
        before_run: Callable[[], Awaitable[None]] | None = None,
        after_disk_eviction: Callable[[], Awaitable[object]] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._repositories = repositories
        self._storage = storage
        self._inventory = inventory
        self._stats = stats
        self._lock_path = lock_path
        self._policy = policy
        self._space = space
        self._before_run = before_run
        """Called first, e.g. to write the pulls this process noted (the LRU order depends on them)."""
        self._after_disk_eviction = after_disk_eviction
        """Called after evicting for free disk space: the garbage collection that frees the bytes."""
        self._now = now or (lambda: datetime.now(UTC))
        self._nudged = asyncio.Event()

    def nudge(self) -> None:
        """Content was fetched: a limit may be crossed; check soon (cheap, for the request path)."""
        self._nudged.set()

    async def serve(self, interval: float) -> None:
        """Run passes forever: soon after a nudge (limits only) and every ``interval`` seconds (limits and
        ages; 0: only after nudges). A failed pass is logged; the next one tries again."""
        while True:
            timed_out = False
            try:
                await asyncio.wait_for(self._nudged.wait(), interval if interval > 0 else None)
                await asyncio.sleep(NUDGE_DELAY_SECONDS)
            except TimeoutError:
                timed_out = True
            self._nudged.clear()
            try:
                await self.run(ages=timed_out)
            except Exception:
                log.exception("eviction failed; it runs again on the next fetch or in %.0f s", interval)

    async def make_room(self, nbytes: int) -> EvictionReport | None:
        """A pass for a cache write of ``nbytes`` that the disk has no room for: the limits, and enough
        evicted (then collected) that ``nbytes`` more fit above ``min_free_bytes``."""
        return await self.run(ages=False, wanted=nbytes)

    async def run(self, *, ages: bool = True, wanted: int = 0) -> EvictionReport | None:
        """One pass (None when another pass is running): the age policy (unless ``ages`` is false), each
        repository's quota, then the store's limits (with room for ``wanted`` more bytes on the disk)."""
        async with self._exclusive() as acquired:
            if not acquired:
                return None
            report = EvictionReport()
            repositories = await self._repositories.list_repositories()
            if not self._limited(repositories, ages, wanted):
                return report  # nothing to enforce: spare the store the accounting queries
            if self._before_run is not None:
                await self._before_run()
            usage = await self._storage.storage_usage()
            for repository in repositories:
                if ages and repository.evict_unused_after_days > 0:
                    await self._evict_unused(repository, report)
                    usage = await self._storage.storage_usage()
                await self._enforce_quota(repository, usage, report)
            await self._enforce_store(repositories, report, wanted)
            await self._count(repositories, report)
        return report

    def _limited(self, repositories: Sequence[Repository], ages: bool, wanted: int) -> bool:
        """Whether any limit applies to this pass."""
        policy = self._policy
        if wanted > 0 or policy.max_bytes > 0 or policy.min_free_bytes > 0:
            return True
        return any(
            repository.max_cached_bytes > 0 or (ages and repository.evict_unused_after_days > 0)
            for repository in repositories
        )

    # --- the policies ---------------------------------------------------------------------------

    async def _evict_unused(self, repository: Repository, report: EvictionReport) -> None:
        cutoff = self._now() - timedelta(days=repository.evict_unused_after_days)
        for version in await self._versions(repository):
            if version.last_used < cutoff and not version.pinned:
                await self._evict(repository, version, "unused", report)

    async def _enforce_quota(self, repository: Repository, usage: StoreUsage, report: EvictionReport) -> None:
        quota = repository.max_cached_bytes
        held = usage.repositories.get(_id(repository))
        if quota <= 0 or held is None or held.cached_bytes <= quota:
            return
        target = int(quota * self._policy.low_water)
        cached = held.cached_bytes
        for _ in range(MAX_ROUNDS):
            evicted_any = False
            for version in await self._versions(repository):
                if cached <= target:
                    return
                if version.pinned:
                    continue
                if await self._evict(repository, version, "quota", report):
                    cached -= version.size
                    evicted_any = True
            held = (await self._storage.storage_usage()).repositories.get(_id(repository))
            cached = held.cached_bytes if held is not None else 0
            if cached <= target or not evicted_any:
                break
        if cached > quota:
            log.warning(
                "repository %s holds %d cached bytes, over its quota of %d: the rest is pinned or in use",
                repository.name,
                cached,
                quota,
            )

    async def _enforce_store(
        self, repositories: Sequence[Repository], report: EvictionReport, wanted: int
    ) -> None:
        excess, reason = await self._store_excess(wanted)
        if excess <= 0:
            return
        freed = 0
        for version, repository in await self._all_versions(repositories):
            if freed >= excess:
                break
            if not version.pinned and await self._evict(repository, version, reason, report):
                freed += version.size
        if reason == "disk" and freed and self._after_disk_eviction is not None:
            await self._after_disk_eviction()
        if freed < excess:
            log.warning("eviction for the store's %s limit: %d of %d bytes wanted", reason, freed, excess)

    async def _store_excess(self, wanted: int) -> tuple[int, str]:
        """Bytes to evict for the store's limits (0 when none is crossed), and which limit; ``wanted`` bytes
        are to fit on the disk as well."""
        policy = self._policy
        if policy.max_bytes > 0:
            total = (await self._storage.storage_usage()).total_bytes
            if total > policy.max_bytes:
                return total - int(policy.max_bytes * policy.low_water), "store"
        if (policy.min_free_bytes > 0 or wanted > 0) and self._space is not None:
            free = self._space().free_bytes - wanted
            if free < policy.min_free_bytes:
                margin = int(policy.min_free_bytes * (1 - policy.low_water))
                return policy.min_free_bytes - free + margin, "disk"
        return 0, ""

    # --- helpers --------------------------------------------------------------------------------

    async def _versions(self, repository: Repository) -> list[ImageVersion]:
        contents = await self._inventory.image_contents(_id(repository))
        return cached_versions(_id(repository), contents, repository.pins)

    async def _all_versions(
        self, repositories: Sequence[Repository]
    ) -> list[tuple[ImageVersion, Repository]]:
        every = [
            (version, repository)
            for repository in repositories
            for version in await self._versions(repository)
        ]
        return sorted(every, key=lambda pair: (pair[0].last_used, pair[1].name, pair[0].image))

    async def _evict(
        self, repository: Repository, version: ImageVersion, reason: str, report: EvictionReport
    ) -> bool:
        if not await self._storage.evict_version(
            version.repository_id, version.image, version.digest, version.pulled_at
        ):
            return False  # pulled, re-tagged locally or gone meanwhile
        log.info(
            "evicted %s/%s@%s (%s; %d bytes; %s)",
            repository.name,
            version.image,
            version.digest,
            ", ".join(version.tags) or "untagged",
            version.size,
            reason,
        )
        report.evicted.append(
            Evicted(repository.name, version.image, str(version.digest), version.tags, version.size, reason)
        )
        return True

    async def _count(self, repositories: Sequence[Repository], report: EvictionReport) -> None:
        ids = {repository.name: _id(repository) for repository in repositories}
        deltas: dict[tuple[int, str, str], int] = {}
        for item in report.evicted:
            for counter, value in (("evictions", 1), ("evicted_bytes", item.size)):
                key = (ids[item.repository], "", counter)
                deltas[key] = deltas.get(key, 0) + value
        if deltas:
            await self._stats.add_to_counters(deltas)

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        fd = try_flock(self._lock_path)
        if fd is None:
            yield False
            return
        try:
            async with self._storage.eviction_lock() as acquired:
                yield acquired
        finally:
            os.close(fd)


def _id(repository: Repository) -> int:
    assert repository.id is not None, "the store returns repositories with their id"
    return repository.id
