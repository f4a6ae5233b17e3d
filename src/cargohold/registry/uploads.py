"""Blob upload sessions: monolithic, chunked and streamed pushes, status, cancel.

The spool file in the blob store is the truth about how many bytes arrived; the metadata store records
which image a session belongs to and who opened it. A session's bytes become a blob only when the final
PUT names a digest they hash to; then the blob is committed and linked into the image, and the session
is gone. A chunk that does not start where the upload stands is refused with the current offset.

A push the disk has no room for (less than ``storage.min_free_bytes`` would stay free, or the filesystem says
it is full) ends with ``StorageFullError`` (507), and its session goes with what it received: nothing
half-written is kept.

Sessions are bounded (``UploadPolicy``): a session that received nothing for ``max_idle_seconds`` has expired
(BLOB_UPLOAD_UNKNOWN; garbage collection removes its spool and record later, on the same idle time), and
only sessions that have not expired count toward the caps on the sessions one user, and one repository, may
have open at once (TooManyRequestsError, 429 TOOMANYREQUESTS, when a start would pass one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cargohold.errors import (
    BlobUploadInvalidError,
    BlobUploadUnknownError,
    SizeInvalidError,
    StorageFullError,
    UploadRangeError,
)
from cargohold.metadata.base import ContentStore
from cargohold.models import Digest, Upload, UploadLimits
from cargohold.registry.addressing import ImageAddress
from cargohold.registry.space import SpaceGuard, is_disk_full
from cargohold.storage.base import BlobStore, BlobWriter

log = logging.getLogger(__name__)

ROOM_CHECK_BYTES: Final = 8 * 1024 * 1024
"""A push of unknown length looks at the free space again after each this many bytes."""


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """How many sessions may be open at once, and how long one may sit idle (0: no cap, no expiry)."""

    max_per_user: int = 0
    max_per_repository: int = 0
    max_idle_seconds: float = 0.0


class UploadService:
    def __init__(
        self,
        metadata: ContentStore,
        store: BlobStore,
        room: SpaceGuard | None = None,
        policy: UploadPolicy | None = None,
    ) -> None:
        self._metadata = metadata
        self._store = store
        self._room = room
        self._policy = policy or UploadPolicy()
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, address: ImageAddress, owner: str | None = None) -> Upload:
        """A new session; TooManyRequestsError when the caller or the repository has reached its cap."""
        now = datetime.now(UTC)
        upload = Upload(
            id=uuid.uuid4().hex,
            repository_id=address.repository_id,
            image=address.image,
            offset=0,
            created_at=now,
            owner=owner,
        )
        limits = UploadLimits(
            active_since=self._active_since(now),
            per_owner=self._policy.max_per_user,
            per_repository=self._policy.max_per_repository,
        )
        writer = await self._store.start_upload(upload.id)
        await writer.close()
        try:
            await self._metadata.create_upload(upload, limits)
        except BaseException:
            await self._store.delete_upload(upload.id)
            raise
        return upload

    def _active_since(self, now: datetime) -> datetime:
        """Sessions last active before this have expired (the epoch when sessions never expire)."""
        if self._policy.max_idle_seconds <= 0:
            return datetime.fromtimestamp(0, UTC)
        return now - timedelta(seconds=self._policy.max_idle_seconds)

    async def status(self, address: ImageAddress, upload_id: str, owner: str | None = None) -> Upload:
        """The session with its current offset; BlobUploadUnknownError when it is not this image's."""
        return await self._session(address, upload_id, owner)

    async def append(
        self,
        address: ImageAddress,
        upload_id: str,
        body: AsyncIterable[bytes],
        start: int | None = None,
        length: int | None = None,
        owner: str | None = None,
    ) -> Upload:
        """Append a chunk; ``start`` (from Content-Range) must equal the current offset."""
        async with self._lock(upload_id), self._full_ends_session(upload_id):
            upload = await self._session(address, upload_id, owner)
            writer = await self._store.resume_upload(upload_id)
            try:
                self._check_start(upload_id, writer.size, start)
                await self._receive(writer, body, length)
            finally:
                await writer.close()
            await self._metadata.set_upload_offset(upload_id, writer.size)
            return Upload(
                upload.id, upload.repository_id, upload.image, writer.size, upload.created_at, upload.owner
            )

    async def finish(
        self,
        address: ImageAddress,
        upload_id: str,
        digest: Digest,
        body: AsyncIterable[bytes] | None = None,
        start: int | None = None,
        length: int | None = None,
        owner: str | None = None,
    ) -> int:
        """Take the last chunk (if any), verify and commit the blob, link it into the image; its size."""
        async with self._lock(upload_id), self._full_ends_session(upload_id):
            await self._session(address, upload_id, owner)
            writer = await self._store.resume_upload(upload_id)
            if body is not None:
                try:
                    self._check_start(upload_id, writer.size, start)
                    await self._receive(writer, body, length)
                except BaseException:
                    await writer.close()
                    raise
            try:
                size = await writer.commit(digest)
            except BaseException:
                # A failed verification ends the session: its bytes are not what the client meant.
                await self._store.delete_upload(upload_id)
                await self._metadata.delete_upload(upload_id)
                raise
            await self._metadata.link_blob(address.repository_id, address.image, digest, size)
            await self._metadata.delete_upload(upload_id)
        self._locks.pop(upload_id, None)
        return size

    async def monolithic(
        self,
        address: ImageAddress,
        digest: Digest,
        body: AsyncIterable[bytes],
        length: int | None,
        owner: str | None,
    ) -> int:
        """A single POST carrying the whole blob and its digest."""
        upload = await self.start(address, owner)
        return await self.finish(address, upload.id, digest, body, None, length, owner)

    async def cancel(self, address: ImageAddress, upload_id: str, owner: str | None = None) -> None:
        async with self._lock(upload_id):
            await self._session(address, upload_id, owner)
            await self._store.delete_upload(upload_id)
            await self._metadata.delete_upload(upload_id)
        self._locks.pop(upload_id, None)

    async def _session(self, address: ImageAddress, upload_id: str, owner: str | None) -> Upload:
        upload = await self._metadata.get_upload(upload_id) if _plausible_id(upload_id) else None
        if (
            upload is None
            or upload.repository_id != address.repository_id
            or upload.image != address.image
            or (upload.owner is not None and upload.owner != owner)
        ):
            raise BlobUploadUnknownError(f"upload {upload_id[:80]!r} is unknown to {address.name}")
        last_active = upload.updated_at or upload.created_at
        if last_active is not None and last_active < self._active_since(datetime.now(UTC)):
            idle = self._policy.max_idle_seconds
            raise BlobUploadUnknownError(
                f"upload {upload_id[:80]!r} expired: it was idle longer than {idle:g} s"
            )
        writer = await self._store.resume_upload(upload_id)
        offset = writer.size
        await writer.close()
        return Upload(upload.id, upload.repository_id, upload.image, offset, upload.created_at, upload.owner)

    @staticmethod
    def _check_start(upload_id: str, offset: int, start: int | None) -> None:
        if start is not None and start != offset:
            raise UploadRangeError(
                f"chunk starts at {start} but the upload stands at {offset}",
                upload_id=upload_id,
                offset=offset,
            )

    @contextlib.asynccontextmanager
    async def _full_ends_session(self, upload_id: str) -> AsyncIterator[None]:
        """A full disk ends the session, with the bytes it received, as StorageFullError."""
        try:
            yield
        except (StorageFullError, OSError) as error:
            if not isinstance(error, StorageFullError) and not is_disk_full(error):
                raise
            with contextlib.suppress(OSError):
                await self._store.delete_upload(upload_id)
            await self._metadata.delete_upload(upload_id)
            self._locks.pop(upload_id, None)
            log.warning("push refused, the disk is full: upload %s removed (%s)", upload_id, error)
            raise StorageFullError("no room in the registry's storage for this push") from None

    def _check_room(self, nbytes: int) -> None:
        if self._room is not None and not self._room.has_room(nbytes):
            raise StorageFullError("no room in the registry's storage for this push")

    async def _receive(self, writer: BlobWriter, body: AsyncIterable[bytes], length: int | None) -> None:
        self._check_room(length or 0)
        received = 0
        unchecked = 0
        async for chunk in body:
            received += len(chunk)
            if length is not None and received > length:
                raise SizeInvalidError(f"body is longer than the declared {length} bytes")
            unchecked += len(chunk)
            if length is None and unchecked >= ROOM_CHECK_BYTES:
                self._check_room(0)
                unchecked = 0
            await writer.write(chunk)
        if length is not None and received != length:
            raise BlobUploadInvalidError(f"body ended after {received} of the declared {length} bytes")

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())


def _plausible_id(upload_id: str) -> bool:
    return 0 < len(upload_id) <= 64 and all(c.isalnum() or c in "-_" for c in upload_id)
