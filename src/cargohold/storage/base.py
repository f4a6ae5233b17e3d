"""The blob store contract: bytes only, content-addressed; it knows no repository, image or HTTP.

A driver keeps committed blobs under their digest and in-progress uploads under an upload id. Drivers:
``filesystem`` (the default, below) and ``s3`` (``cargohold.storage.s3``; its key layout is drawn in
``cargohold.storage.s3_client``). The filesystem driver's layout, below ``data_dir``::

    blobs/
      sha256/ab/abcdef0123…        committed content, named by its digest; never changes once written
    uploads/
      <upload-id>                  bytes received so far for one upload session (append only)
    tmp/
      <random>                     spool files of small writes (manifests) before their atomic rename

A blob becomes visible only through ``BlobWriter.commit``: the bytes are checked against the expected
digest (and size), fsynced, and renamed into place. A mismatch removes the spool and raises; nothing
half-written is ever readable. Committing bytes that are already stored (or ``put_small`` of them) touches
the stored file's modification time, which garbage collection reads as "in use just now".

``SpaceReporter`` says how big the disk under the store is and how much of it is free (a driver without a
disk of its own, such as S3, does not offer it).

``SweepableStore`` is what garbage collection asks of the files: listings with sizes and modification
times, and removals that re-check the time so a file used since it was listed is kept.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cargohold.models import Digest


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """The filesystem under a store: its size and the bytes an unprivileged writer may still use."""

    total_bytes: int
    free_bytes: int


def disk_space(path: Path) -> DiskSpace:
    """The size and free space of the filesystem holding ``path`` (free: what an unprivileged writer gets)."""
    stat = os.statvfs(path)
    return DiskSpace(total_bytes=stat.f_blocks * stat.f_frsize, free_bytes=stat.f_bavail * stat.f_frsize)


class SpaceReporter(Protocol):
    def space(self) -> DiskSpace:
        """The filesystem's size and free bytes now (a ``statvfs``: cheap, no I/O on the blobs)."""
        ...


class BlobWriter(Protocol):
    """Bytes of one upload, appended in order and committed once."""

    @property
    def upload_id(self) -> str: ...

    @property
    def size(self) -> int:
        """Bytes received so far (the next write lands at this offset)."""
        ...

    @property
    def flushed(self) -> int:
        """Bytes handed to the spool file: a reader of ``BlobStore.upload_path`` sees at least these."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self, expected: Digest, expected_size: int | None = None) -> int:
        """Verify, fsync and move into place; return the size.

        Raises DigestInvalidError (or SizeInvalidError) and removes the spool when the bytes do not match.
        Committing a digest that already exists keeps the existing file and discards the spool, unless the
        existing file is not the verified size (damaged): then the new bytes replace it atomically.
        """
        ...

    async def close(self) -> None:
        """Flush and keep the spool so the upload can be resumed by ``BlobStore.resume_upload``."""
        ...

    async def abort(self) -> None:
        """Remove the spool."""
        ...


class BlobStore(Protocol):
    async def stat(self, digest: Digest) -> int | None:
        """The size of a committed blob, or None when absent."""
        ...

    def local_path(self, digest: Digest) -> Path | None:
        """A filesystem path to the committed blob, for sendfile; None when absent or not on local disk."""
        ...

    async def redirect_url(self, digest: Digest) -> str | None:
        """A short-lived URL a client may fetch the committed blob from itself (the S3 driver with
        ``storage.redirect: true``), or None: serve the bytes (``local_path`` or ``read``)."""
        ...

    def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream a committed blob (or part of it). Raises BlobUnknownError when absent."""
        ...

    async def read_small(self, digest: Digest, limit: int) -> bytes:
        """The whole content of a small blob (a manifest); raises BlobUnknownError, SizeInvalidError."""
        ...

    async def put_small(self, data: bytes) -> Digest:
        """Store small content (a manifest) atomically under its sha256 digest and return the digest."""
        ...

    def upload_path(self, upload_id: str) -> Path:
        """Where an upload's spool lies on local disk, so a reader can follow it while it grows.
        Raises BlobUploadUnknownError for an id that is not a safe file name. (A driver that keeps pushes
        elsewhere writes this file for ``caller_verifies`` uploads, the fetches that are followed, only.)"""
        ...

    async def start_upload(self, upload_id: str, *, caller_verifies: bool = False) -> BlobWriter:
        """A writer for a new, empty upload spool. With ``caller_verifies`` it does not hash what it writes:
        the caller has hashed every byte and checked the digest before it commits, so ``commit`` checks only
        the size (a fetch through a proxy, which hashes as the bytes arrive)."""
        ...

    async def resume_upload(self, upload_id: str) -> BlobWriter:
        """A writer appending to an existing upload spool. Raises BlobUploadUnknownError when absent."""
        ...

    async def delete_upload(self, upload_id: str) -> None:
        """Remove an upload spool if present."""
        ...

    async def delete(self, digest: Digest) -> None:
        """Remove a committed blob if present."""
        ...

    def iter_digests(self) -> AsyncIterator[Digest]:
        """Every committed blob (for garbage collection)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file as garbage collection sees it."""

    name: str
    """A blob's digest (``sha256:…``); a spool's upload id; a work file's name."""
    size: int
    mtime: float
    """Last modification, seconds since the epoch."""
    area: str = "blobs"
    """``blobs``, ``uploads`` (upload and fetch spools), ``tmp`` (small-write spools) or ``work``."""


class SweepableStore(Protocol):
    """The files of a blob store, for garbage collection. Every ``remove_*`` re-reads the file's time and
    keeps a file modified at or after ``idle_before`` (seconds since the epoch); each answers the bytes it
    removed, or None when it removed nothing."""

    def list_blobs(self) -> AsyncIterator[StoredFile]:
        """Every committed blob file."""
        ...

    async def remove_blob(self, digest: Digest, idle_before: float) -> int | None: ...

    async def list_spools(self) -> list[StoredFile]:
        """Every spool: of uploads (and fetches) under ``uploads``, of small writes under ``tmp``."""
        ...

    async def remove_spool(self, spool: StoredFile, idle_before: float) -> int | None: ...

    async def list_work_files(self, work_dir: Path) -> list[StoredFile]:
        """The lock, state and temporary files a fetcher left in ``work_dir`` that no process holds locked."""
        ...

    async def remove_work_file(self, work_dir: Path, name: str, idle_before: float) -> int | None:
        """Remove a work file unless it changed since or a process now holds it locked."""
        ...
