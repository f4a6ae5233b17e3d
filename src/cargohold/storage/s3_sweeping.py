"""The S3 driver's objects as garbage collection sees them: ``S3Sweeper`` (``SweepableStore``).

Blobs are the objects under ``blobs/``, with their last-modified time. Spools are, in area ``uploads``, the
push sessions kept in S3 (named by upload id, timed by their ``state`` object, which every request that
brings bytes rewrites) and the local spools of fetches on this node; in area ``s3-orphan``, what an upload
left in S3 without a ``state`` object (the multipart upload of a fetch whose process died, a commit cut
short). Removals re-read the time first and keep what changed at or after ``idle_before``; removing an
upload aborts its multipart uploads, so S3 keeps no invisible parts. The fetcher's lock and state files are
on the local disk, as with the filesystem driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from botocore.exceptions import ClientError

from cargohold.errors import BlobUploadUnknownError
from cargohold.models import Digest
from cargohold.storage.base import StoredFile
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3_bucket import UploadState
from cargohold.storage.s3_client import not_found, translated
from cargohold.storage.sweeping import (
    files_in,
    is_work_file,
    remove_if_idle,
    remove_work_file,
    unheld_work_files,
)

ORPHAN_AREA = "s3-orphan"


class S3Sweeper:
    """``SweepableStore`` over an ``S3BlobStore``."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._keys = store.keys

    async def list_blobs(self) -> AsyncIterator[StoredFile]:
        async for key, size, mtime in self._store.objects.list_objects(self._keys.blobs):
            digest = self._keys.digest_of(key)
            if digest is not None:
                yield StoredFile(str(digest), size, mtime)

    async def remove_blob(self, digest: Digest, idle_before: float) -> int | None:
        key = self._keys.blob(digest)
        head = await self._store.objects.head(key)
        if head is None or head["LastModified"].timestamp() >= idle_before:
            return None
        with translated():
            await self._store.client.delete_object(Bucket=self._store.bucket, Key=key)
        return int(head["ContentLength"])

    async def list_spools(self) -> list[StoredFile]:
        spools = [
            StoredFile(name, size, mtime, "uploads")
            for name, size, mtime in await asyncio.to_thread(files_in, self._store.spools)
        ]
        return spools + list((await self._sessions()).values())

    async def remove_spool(self, spool: StoredFile, idle_before: float) -> int | None:
        if spool.area not in ("uploads", ORPHAN_AREA):
            return None
        try:
            local = self._store.upload_path(spool.name)
        except BlobUploadUnknownError:
            return None
        if spool.area == "uploads" and await asyncio.to_thread(local.exists):
            return await asyncio.to_thread(remove_if_idle, local, idle_before)
        current = (await self._sessions(spool.name)).get(spool.name)
        if current is None or current.area != spool.area or current.mtime >= idle_before:
            return None
        await self._store.objects.remove_upload_objects(self._keys.upload_dir(spool.name))
        return current.size

    async def list_work_files(self, work_dir: Path) -> list[StoredFile]:
        return await asyncio.to_thread(unheld_work_files, work_dir)

    async def remove_work_file(self, work_dir: Path, name: str, idle_before: float) -> int | None:
        if not is_work_file(name):
            return None
        return await asyncio.to_thread(remove_work_file, work_dir, name, idle_before)

    async def _sessions(self, upload_id: str | None = None) -> dict[str, StoredFile]:
        """The uploads kept in S3 (all, or one): a session with a ``state`` object is timed by it; one without
        is an orphan, timed by its newest object or multipart upload."""
        prefix = self._keys.uploads if upload_id is None else self._keys.upload_dir(upload_id)
        sizes: dict[str, int] = {}
        newest: dict[str, float] = {}
        states: dict[str, float] = {}
        async for key, size, mtime in self._store.objects.list_objects(prefix):
            found = self._keys.upload_id_of(key)
            if found is None:
                continue
            if key == self._keys.state(found):
                states[found] = mtime
            else:
                sizes[found] = sizes.get(found, 0) + size
            newest[found] = max(newest.get(found, 0.0), mtime)
        for key, _, initiated in await self._store.objects.list_multipart(prefix):
            found = self._keys.upload_id_of(key)
            if found is not None:
                sizes.setdefault(found, 0)
                newest[found] = max(newest.get(found, 0.0), initiated)
        for found in states:
            sizes[found] = sizes.get(found, 0) + await self._parts_size(found)
        return {
            found: StoredFile(found, sizes.get(found, 0), states.get(found, newest[found]), "uploads")
            if found in states
            else StoredFile(found, sizes.get(found, 0), newest[found], ORPHAN_AREA)
            for found in newest
        }

    async def _parts_size(self, upload_id: str) -> int:
        """Bytes of a session's uploaded parts (not objects yet, so not in the listing)."""
        with translated():
            try:
                response = await self._store.client.get_object(
                    Bucket=self._store.bucket, Key=self._keys.state(upload_id)
                )
                body = await response["Body"].read()
            except ClientError as error:
                if not_found(error):
                    return 0
                raise
        return UploadState.load(body).parts_size
