"""``StorageCheck`` (``cargohold fsck``): every stored blob file read back and held to what the metadata
records about it.

* **damaged**: a file whose bytes do not hash to its name (the digest), or whose size is not a size a blob
  link or manifest recorded for it;
* **missing**: a digest a blob link or manifest holds, with no file;
* **orphaned**: a file nothing references (garbage collection removes it after its grace period).

With ``repair``, a damaged file is removed (after it is read once more, in case a verified download
replaced it meanwhile), and the cached manifests that hold a damaged or missing digest are forgotten: the
next pull fetches the file again through a proxy, as it already does for a cached blob whose file is gone.
Pushed (local) content cannot be had again: it is reported as lost, and pulls of it answer 404. Orphans are
left to garbage collection. Files are hashed as a stream (never held whole); ``progress`` hears every chunk.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from cargohold.errors import BlobUnknownError
from cargohold.metadata.base import CollectorStore, ContentStore
from cargohold.models import ContentSource, Digest, Holding
from cargohold.storage.base import BlobStore, StoredFile, SweepableStore

log = logging.getLogger(__name__)

BATCH: Final = 500
"""Files whose records are looked up at once."""

Progress = Callable[[int], None]
"""Told how many more bytes were read."""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    """``damaged``, ``missing`` or ``orphaned``."""
    digest: str
    problem: str
    held_by: list[str]
    """``repository/image (blob|manifest, local|cached through PROXY)`` of each record holding it."""
    action: str
    """What was done (with repair), or what repair would do."""


@dataclass(slots=True)
class FsckReport:
    repair: bool
    files: int = 0
    bytes: int = 0
    findings: list[Finding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for finding in self.findings if finding.kind == kind)

    @property
    def clean(self) -> bool:
        """Nothing damaged nor missing (orphans are garbage collection's business)."""
        return not any(finding.kind in ("damaged", "missing") for finding in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "repair": self.repair,
            "files": self.files,
            "bytes": self.bytes,
            "damaged": self.count("damaged"),
            "missing": self.count("missing"),
            "orphaned": self.count("orphaned"),
            "findings": [asdict(finding) for finding in self.findings],
        }


class StorageCheck:
    def __init__(
        self, collector: CollectorStore, content: ContentStore, files: SweepableStore, store: BlobStore
    ) -> None:
        self._collector = collector
        self._content = content
        self._files = files
        self._store = store

    async def list_files(self) -> list[StoredFile]:
        """Every blob file (their sizes add up to the bytes ``run`` reads)."""
        return [stored async for stored in self._files.list_blobs()]

    async def run(
        self, files: Sequence[StoredFile], *, repair: bool = False, progress: Progress | None = None
    ) -> FsckReport:
        report = FsckReport(repair)
        advance = progress or (lambda _: None)
        held = await self._collector.held_digests()
        present: set[Digest] = set()
        for start in range(0, len(files), BATCH):
            digests = [Digest.parse(stored.name) for stored in files[start : start + BATCH]]
            holdings = _by_digest(await self._collector.holdings(digests))
            referenced = await self._collector.referenced(digests)
            for digest in digests:
                read = await self._read(digest, advance)
                if read is None:  # removed since it was listed (garbage collection)
                    continue
                present.add(digest)
                report.files += 1
                report.bytes += read[1]
                problem = _damage(digest, *read, holdings[digest])
                if problem is not None:
                    await self._damaged(report, digest, problem, holdings[digest], repair)
                elif digest not in referenced:
                    action = "none: garbage collection removes it"
                    orphan = Finding("orphaned", str(digest), "nothing references it", [], action)
                    report.findings.append(orphan)
        missing = sorted(held - present, key=str)
        holdings = _by_digest(await self._collector.holdings(missing))
        for digest in missing:
            if await self._store.stat(digest) is not None:  # stored since the listing
                continue
            await self._missing(report, digest, holdings[digest], repair)
        log.info(
            "fsck%s: %d files, %d bytes read; %d damaged, %d missing, %d orphaned",
            " --repair" if repair else "",
            report.files,
            report.bytes,
            report.count("damaged"),
            report.count("missing"),
            report.count("orphaned"),
        )
        return report

    async def _read(self, digest: Digest, advance: Progress) -> tuple[Digest, int] | None:
        """What the stored bytes hash to, and how many there are; None when the file is gone."""
        hasher = hashlib.new(digest.algorithm)
        size = 0
        try:
            async for chunk in self._store.read(digest):
                hasher.update(chunk)
                size += len(chunk)
                advance(len(chunk))
        except (BlobUnknownError, FileNotFoundError):
            return None
        return Digest.parse(f"{digest.algorithm}:{hasher.hexdigest()}"), size

    async def _damaged(
        self, report: FsckReport, digest: Digest, problem: str, holdings: list[Holding], repair: bool
    ) -> None:
        lost = _local(holdings)
        if not repair:
            action = "would remove the file" + _consequence(holdings, lost, conditional=True)
        else:
            again = await self._read(digest, lambda _: None)
            if again is not None and _damage(digest, *again, holdings) is None:
                action = "none: a verified copy replaced it meanwhile"
            else:
                await self._store.delete(digest)
                await self._forget_cached_manifests(holdings)
                action = "removed the file" + _consequence(holdings, lost, conditional=False)
                log.warning("fsck: removed damaged blob file %s (%s)", digest, problem)
        report.findings.append(Finding("damaged", str(digest), problem, _held_by(holdings), action))

    async def _missing(
        self, report: FsckReport, digest: Digest, holdings: list[Holding], repair: bool
    ) -> None:
        lost = _local(holdings)
        if repair:
            await self._forget_cached_manifests(holdings)
        consequence = _consequence(holdings, lost, conditional=not repair).removeprefix("; ")
        action = consequence if repair else f"--repair: {consequence}"
        report.findings.append(Finding("missing", str(digest), "no file", _held_by(holdings), action))

    async def _forget_cached_manifests(self, holdings: list[Holding]) -> None:
        """Cached manifests without good bytes are forgotten, so the next pull fetches them again."""
        for holding in holdings:
            if holding.kind == "manifest" and holding.source is ContentSource.CACHED:
                await self._content.delete_manifest(holding.repository_id, holding.image, holding.digest)


def _by_digest(holdings: list[Holding]) -> defaultdict[Digest, list[Holding]]:
    grouped: defaultdict[Digest, list[Holding]] = defaultdict(list)
    for holding in holdings:
        grouped[holding.digest].append(holding)
    return grouped


def _damage(digest: Digest, actual: Digest, size: int, holdings: list[Holding]) -> str | None:
    """What is wrong with a file of ``size`` bytes hashing to ``actual``; None when nothing is."""
    problems = []
    recorded = sorted({holding.size for holding in holdings if holding.size != size})
    if recorded:
        problems.append(f"it has {size} bytes, {', '.join(map(str, recorded))} recorded")
    if actual != digest:
        problems.append(f"its content hashes to {actual}")
    return "; ".join(problems) or None


def _local(holdings: list[Holding]) -> list[str]:
    return [f"{h.repository}/{h.image}" for h in holdings if h.source is ContentSource.LOCAL]


def _consequence(holdings: list[Holding], lost: list[str], *, conditional: bool) -> str:
    cached = [holding for holding in holdings if holding.source is ContentSource.CACHED]
    parts = []
    if cached:
        parts.append("the next pull fetches it again through a proxy")
    if lost:
        verb = "would be lost" if conditional else "is lost"
        parts.append(f"pushed content of {', '.join(sorted(set(lost)))} {verb} (push it again)")
    return "; " + "; ".join(parts) if parts else ""


def _held_by(holdings: list[Holding]) -> list[str]:
    shown = []
    for holding in holdings:
        origin = "local" if holding.source is ContentSource.LOCAL else f"cached through {holding.proxy_name}"
        shown.append(f"{holding.repository}/{holding.image} ({holding.kind}, {origin})")
    return shown
