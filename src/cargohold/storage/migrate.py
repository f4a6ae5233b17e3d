"""Copying every blob of one store into another (``cargohold storage migrate``: filesystem → S3).

Each blob is streamed from the source into an upload of the target and committed under its digest, so the
target hashes every byte and keeps nothing that does not match (a damaged source file is reported, not
copied). A blob the target already holds with the same size is skipped, which makes an interrupted run
resumable: run it again and it carries on where it stopped. What an interrupted upload left in the target is
removed by garbage collection as an abandoned upload.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cargohold.errors import CargoholdError
from cargohold.models import Digest
from cargohold.storage.base import BlobStore

JOBS: Final = 4  # blobs copied at once


@dataclass(slots=True)
class MigrationReport:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(digest, reason) of each blob that could not be copied."""


@dataclass(frozen=True, slots=True)
class Planned:
    digest: Digest
    size: int


async def plan(source: BlobStore) -> list[Planned]:
    """Every blob of ``source`` with its size."""
    planned = []
    async for digest in source.iter_digests():
        size = await source.stat(digest)
        if size is not None:
            planned.append(Planned(digest, size))
    return planned


async def migrate(
    source: BlobStore,
    target: BlobStore,
    blobs: list[Planned],
    *,
    on_bytes: Callable[[int], None] = lambda _: None,
    jobs: int = JOBS,
) -> MigrationReport:
    """Copy ``blobs`` from ``source`` into ``target``; ``on_bytes`` hears of every byte copied or skipped."""
    report = MigrationReport()
    slots = asyncio.Semaphore(jobs)

    async def one(blob: Planned) -> None:
        async with slots:
            if await target.stat(blob.digest) == blob.size:
                report.skipped += 1
                on_bytes(blob.size)
                return
            writer = await target.start_upload(f"migrate-{uuid.uuid4().hex}")
            try:
                async for chunk in source.read(blob.digest):
                    await writer.write(chunk)
                    on_bytes(len(chunk))
                await writer.commit(blob.digest, blob.size)
            except CargoholdError as error:
                await writer.abort()
                report.failed.append((str(blob.digest), error.message))
                return
            except BaseException:
                await writer.abort()
                raise
            report.copied += 1
            report.copied_bytes += blob.size

    await asyncio.gather(*(one(blob) for blob in blobs))
    return report
