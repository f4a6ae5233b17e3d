"""Garbage collection: the bytes nothing needs any more go, and the bytes freed are counted.

``GarbageCollector.collect`` removes, in this order:

1. **Abandoned uploads**: an upload session idle for ``upload_max_idle`` seconds (no byte received since, by
   its spool's modification time; the spool is made when the session starts, so a session without one is
   timed from its start) loses its spool, then its record.
2. **Orphan spools**: a file under ``uploads/`` that no session owns (the ``fetch-…`` spool of a killed
   process, a manifest's spool) or under ``tmp/``, unmodified for ``upload_max_idle`` seconds.
3. **Stale fetcher files**: lock and state files in the fetcher's work directory that no process holds
   locked, unmodified for ``upload_max_idle`` seconds.
4. **Unreferenced blobs** (mark and sweep): a blob file older than ``grace`` seconds that no blob link, no
   manifest (manifests are blobs too) and no manifest reference names.

**Why a blob being pushed, mounted or fetched is never lost.** Bytes live in files, references in the
database, so the protocol couples the two:

* A new file (an upload or fetch just committed, a manifest just stored) is younger than the grace period.
  Committing or storing bytes that are already there touches the existing file, so it is young again.
* The last word on a candidate is ``CollectorStore.collect_blobs``: one write transaction (for a batch of
  up to ``REMOVAL_BATCH`` candidates) that takes each digest's guard exclusively (PostgreSQL advisory lock;
  SQLite's write lock), re-checks that nothing references the digest, re-reads the file's time (still older
  than the grace period?) and only then unlinks the file, before it commits. Every transaction that adds a
  reference (``link_blob``, ``put_manifest``) takes the same guard, shared: it either committed before the
  check (which then sees it and keeps the file) or starts after the file is gone.
* A writer that found the bytes stored *before* linking them (an upload whose bytes were already there, a
  mount, a fetch that reuses a stored blob) may thus link a file that a collection removed in between. So
  ``GuardedContentStore`` (``cargohold.registry.gc_guard``) looks at the file *after* the link committed:
  when it is gone, the new link is undone and the request fails as unavailable (503), which clients retry;
  the retry stores the bytes anew. No link to missing bytes is left behind by a collection.

One collection at a time: ``collect`` holds an exclusive ``flock`` on ``<data_dir>/gc.lock`` (between the
worker processes of a node) and ``CollectorStore.collector_lock`` (between nodes sharing a PostgreSQL
database). ``dry_run`` reports what would go and removes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cargohold.errors import UnavailableError
from cargohold.metadata.base import CollectorStore, ContentStore
from cargohold.models import Digest
from cargohold.registry.gc_ledger import LEDGER_FILE, GcLedger
from cargohold.storage.base import StoredFile, SweepableStore

log = logging.getLogger(__name__)

CANDIDATE_BATCH: Final = 500
"""Blob files looked up in the metadata at once."""
REMOVAL_BATCH: Final = 64
"""Unreferenced blobs re-checked and removed in one write transaction (``CollectorStore.collect_blobs``):
few enough that a push waiting for the write lock waits milliseconds, enough that a collection of many
files does not cost a transaction each."""
LOCK_FILE: Final = "gc.lock"


@dataclass(frozen=True, slots=True)
class GcPolicy:
    grace_seconds: float = 3600.0
    upload_max_idle_seconds: float = 86400.0
    busy_share: float = 0.25
    """The share of time a collection works: after each batch it pauses (1/share - 1) times as long as the
    batch took, so requests served by the same process meanwhile keep their latency (1.0: no pauses)."""


@dataclass(frozen=True, slots=True)
class Removed:
    """One thing a collection removed (or, in a dry run, would remove)."""

    kind: str
    """``blob``, ``upload`` (an abandoned session), ``spool`` (an orphan spool), ``work`` (a fetcher's)."""
    name: str
    size: int


@dataclass(slots=True)
class GcReport:
    dry_run: bool
    removed: list[Removed] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(item.size for item in self.removed)

    def count(self, kind: str) -> int:
        return sum(1 for item in self.removed if item.kind == kind)


class CollectorBusyError(UnavailableError):
    """Another collection is running (in this node or another)."""


class GarbageCollector:
    def __init__(
        self,
        collector: CollectorStore,
        content: ContentStore,
        files: SweepableStore,
        *,
        lock_path: Path,
        work_dir: Path,
        policy: GcPolicy,
    ) -> None:
        self._collector = collector
        self._content = content
        self._files = files
        self._lock_path = lock_path
        self._work_dir = work_dir
        self._policy = policy
        self.ledger = GcLedger(lock_path.parent / LEDGER_FILE)
        """What collections on this node have done (``/metrics``)."""

    async def collect(self, dry_run: bool = False) -> GcReport:
        """Collect now; CollectorBusyError when another collection holds the lock."""
        async with self._exclusive() as acquired:
            if not acquired:
                raise CollectorBusyError("a garbage collection is running already; try again later")
            report = GcReport(dry_run)
            started = time.perf_counter()
            now = time.time()
            idle_before = now - self._policy.upload_max_idle_seconds
            await self._uploads_and_spools(report, idle_before)
            await self._work_files(report, idle_before)
            await self._blobs(report, now - self._policy.grace_seconds)
            if not dry_run:
                removed = {kind: report.count(kind) for kind in ("blob", "upload", "spool", "work")}
                self.ledger.record(removed, report.bytes_freed, time.time(), time.perf_counter() - started)
        log.info(
            "garbage collection%s: %d blobs, %d uploads, %d spools, %d work files, %d bytes %s",
            " (dry run)" if dry_run else "",
            report.count("blob"),
            report.count("upload"),
            report.count("spool"),
            report.count("work"),
            report.bytes_freed,
            "would be freed" if dry_run else "freed",
        )
        return report

    async def collect_if_free(self) -> GcReport | None:
        """Collect unless another collection is running (then None): for the schedule."""
        try:
            return await self.collect()
        except CollectorBusyError:
            return None

    # --- the sweeps -----------------------------------------------------------------------------

    async def _uploads_and_spools(self, report: GcReport, idle_before: float) -> None:
        spools = {(spool.area, spool.name): spool for spool in await self._files.list_spools()}
        for upload in await self._collector.list_uploads():
            spool = spools.pop(("uploads", upload.id), None)
            if spool is not None:
                last_active = spool.mtime
            else:
                last_active = upload.created_at.timestamp() if upload.created_at is not None else 0.0
            if last_active >= idle_before:
                continue
            size: int | None = spool.size if spool is not None else 0
            if not report.dry_run and spool is not None:
                size = await self._files.remove_spool(spool, idle_before)
                if size is None:  # a byte arrived since: not abandoned after all
                    continue
            if not report.dry_run:
                await self._content.delete_upload(upload.id)
            report.removed.append(Removed("upload", upload.id, size or 0))
        for spool in spools.values():
            if spool.mtime < idle_before:
                await self._remove(
                    report,
                    Removed("spool", spool.name, spool.size),
                    lambda spool=spool: self._files.remove_spool(spool, idle_before),  # type: ignore[misc]
                )

    async def _work_files(self, report: GcReport, idle_before: float) -> None:
        for file in await self._files.list_work_files(self._work_dir):
            if file.mtime < idle_before:
                await self._remove(
                    report,
                    Removed("work", file.name, file.size),
                    lambda name=file.name: self._files.remove_work_file(self._work_dir, name, idle_before),  # type: ignore[misc]
                )

    async def _blobs(self, report: GcReport, grace_before: float) -> None:
        batch: list[StoredFile] = []
        async for blob in self._files.list_blobs():
            if blob.mtime < grace_before:
                batch.append(blob)
            if len(batch) >= CANDIDATE_BATCH:
                await self._sweep(report, batch, grace_before)
                batch = []
        if batch:
            await self._sweep(report, batch, grace_before)

    async def _sweep(self, report: GcReport, batch: list[StoredFile], grace_before: float) -> None:
        started = time.perf_counter()
        try:
            await self._sweep_batch(report, batch, grace_before)
        finally:
            await self._pause_after(time.perf_counter() - started)

    async def _pause_after(self, worked: float) -> None:
        """Give the process back for a while after ``worked`` seconds of collecting (``busy_share``)."""
        share = min(max(self._policy.busy_share, 0.01), 1.0)
        if share < 1.0:
            await asyncio.sleep(worked * (1 / share - 1))

    async def _sweep_batch(self, report: GcReport, batch: list[StoredFile], grace_before: float) -> None:
        digests = {Digest.parse(blob.name): blob for blob in batch}
        referenced = await self._collector.referenced(list(digests))
        candidates = [digest for digest in digests if digest not in referenced]
        if report.dry_run:
            report.removed.extend(Removed("blob", str(d), digests[d].size) for d in candidates)
            return

        async def remove(digest: Digest) -> int | None:
            return await self._files.remove_blob(digest, grace_before)

        for start in range(0, len(candidates), REMOVAL_BATCH):
            chunk = candidates[start : start + REMOVAL_BATCH]
            freed = await self._collector.collect_blobs(chunk, remove)
            report.removed.extend(Removed("blob", str(digest), size) for digest, size in freed.items())

    @staticmethod
    async def _remove(
        report: GcReport, candidate: Removed, remove: Callable[[], Awaitable[int | None]]
    ) -> None:
        """Record ``candidate`` as removed: in a dry run as it is, else once ``remove`` removed it (it
        answers the bytes freed, or None when the file was in use again)."""
        if report.dry_run:
            report.removed.append(candidate)
            return
        freed = await remove()
        if freed is not None:
            report.removed.append(Removed(candidate.kind, candidate.name, freed))

    # --- the lock -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        fd = try_flock(self._lock_path)
        if fd is None:
            yield False
            return
        try:
            async with self._collector.collector_lock() as acquired:
                yield acquired
        finally:
            os.close(fd)


def try_flock(path: Path) -> int | None:
    """An open descriptor holding ``path``'s exclusive ``flock``, or None when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
