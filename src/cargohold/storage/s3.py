"""The S3 blob store driver: blobs in an S3-compatible bucket, in the key layout of ``storage.s3_client``.

A writer streams what it receives into a multipart upload, one part of ``part_size`` bytes at a time (so it
holds at most one part in memory), under the upload's temporary key. ``commit`` checks the size and the
digest, completes the upload there and copies the verified object to the blob's key (server-side, no bytes
pass through us): a blob key only ever holds a whole, verified object. A blob smaller than one part never
starts a multipart upload; it is verified in memory and written to its key with one PUT.

Resumable pushes work across requests, worker processes and nodes: ``close`` writes the bytes after the last
whole part to a ``tail`` object and the session's multipart upload id, part list and size to its ``state``
object; ``resume_upload`` reads them back. The running sha256 of a session is kept in this process (as the
filesystem driver does); a session resumed where it is unknown is hashed at commit by reading the completed
object back.

A fetch through a proxy (``start_upload(caller_verifies=True)``) also writes every byte to a local spool file
(``upload_path``), so the fetch's followers on this node read the growing spool as with the filesystem
driver; the spool goes when the blob is committed. ``local_path`` is always None: cache hits are streamed
from S3, or redirected to a presigned URL when ``redirect`` is on (``redirect_url``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from botocore.exceptions import BotoCoreError, ClientError

from cargohold.errors import (
    BlobUnknownError,
    BlobUploadUnknownError,
    ConfigError,
    RangeNotSatisfiableError,
    SizeInvalidError,
)
from cargohold.models import Digest
from cargohold.storage.s3_bucket import Bucket, UploadState
from cargohold.storage.s3_client import Keys, S3Options, client_context, error_code, not_found, translated
from cargohold.storage.s3_writer import UPLOAD_HASH, HashCache, S3BlobWriter, open_spool

if TYPE_CHECKING:
    from hashlib import _Hash

    from types_aiobotocore_s3 import S3Client

__all__ = ["S3BlobStore", "S3BlobWriter"]

READ_CHUNK: Final = 256 * 1024


class S3BlobStore:
    """``BlobStore`` over one bucket (and key prefix); local spools of fetches under ``spool_root``."""

    def __init__(self, client: S3Client, options: S3Options, spool_root: Path) -> None:
        self.client = client
        self.options = options
        self.bucket = options.bucket
        self.keys = Keys(options.prefix)
        self.objects = Bucket(client, options.bucket, self.keys, options.part_size)
        self.spools = spool_root / "uploads"
        self.spools.mkdir(parents=True, exist_ok=True)
        self._hashes = HashCache()
        self._stack: AsyncExitStack | None = None

    @classmethod
    async def open(cls, options: S3Options, spool_root: Path) -> S3BlobStore:
        """A store with its own client (closed by ``close``)."""
        stack = AsyncExitStack()
        client = await stack.enter_async_context(client_context(options))
        store = cls(client, options, spool_root)
        store._stack = stack
        return store

    async def check(self) -> None:
        """Fail with ConfigError unless the bucket can be reached with these credentials."""
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            raise ConfigError(
                f"storage.s3: bucket {self.bucket!r} cannot be used: {error_code(error)}"
            ) from None
        except BotoCoreError as error:
            where = self.options.endpoint_url or f"AWS S3 ({self.options.region})"
            raise ConfigError(f"storage.s3: {where} cannot be used: {error}") from None

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    # --- committed blobs ------------------------------------------------------------------------

    async def stat(self, digest: Digest) -> int | None:
        return await self.objects.stat(self.keys.blob(digest))

    def local_path(self, digest: Digest) -> Path | None:
        return None

    async def redirect_url(self, digest: Digest) -> str | None:
        """A presigned GET URL for the blob when redirects are on, else None (serve the bytes)."""
        if not self.options.redirect:
            return None
        with translated():
            return await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.keys.blob(digest)},
                ExpiresIn=self.options.presign_expires_seconds,
            )

    async def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        key = self.keys.blob(digest)
        if offset < 0 or (length is not None and length < 0) or length == 0:
            size = await self.stat(digest)
            if size is None:
                raise BlobUnknownError(f"blob {digest} is unknown", detail={"digest": str(digest)})
            if offset < 0 or offset > size or (length is not None and length < 0):
                raise RangeNotSatisfiableError(
                    f"offset {offset} is outside the blob of {size} bytes", size=size
                )
            return
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            arguments["Range"] = f"bytes={offset}-{end}"
        response: Any = None
        with translated():
            try:
                response = await self.client.get_object(**arguments)
            except ClientError as error:
                if not_found(error):
                    raise BlobUnknownError(
                        f"blob {digest} is unknown", detail={"digest": str(digest)}
                    ) from None
                if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 416:
                    raise
        if response is None:  # the offset is at or past the end
            size = await self.stat(digest)
            if size is None:
                raise BlobUnknownError(f"blob {digest} is unknown", detail={"digest": str(digest)})
            if offset != size:
                raise RangeNotSatisfiableError(
                    f"offset {offset} is outside the blob of {size} bytes", size=size
                )
            return
        body = response["Body"]
        try:
            with translated():
                async for chunk in body.iter_chunks(READ_CHUNK):
                    yield chunk
        finally:
            body.close()

    async def read_small(self, digest: Digest, limit: int) -> bytes:
        with translated():
            try:
                response = await self.client.get_object(Bucket=self.bucket, Key=self.keys.blob(digest))
            except ClientError as error:
                if not_found(error):
                    raise BlobUnknownError(
                        f"blob {digest} is unknown", detail={"digest": str(digest)}
                    ) from None
                raise
            body = response["Body"]
            try:
                size = int(response["ContentLength"])
                if size > limit:
                    raise SizeInvalidError(
                        f"blob {digest} is {size} bytes; at most {limit} are read whole",
                        detail={"size": size, "limit": limit},
                    )
                return await body.read()
            finally:
                body.close()

    async def put_small(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        key = self.keys.blob(digest)
        if await self.objects.stat(key) == len(data) and await self.objects.touch(key, len(data)):
            return digest
        await self.objects.put_bytes(key, data)
        return digest

    async def delete(self, digest: Digest) -> None:
        await self.objects.delete_key(self.keys.blob(digest))

    async def iter_digests(self) -> AsyncIterator[Digest]:
        async for key, _, _ in self.objects.list_objects(self.keys.blobs):
            digest = self.keys.digest_of(key)
            if digest is not None:
                yield digest

    # --- uploads --------------------------------------------------------------------------------

    def upload_path(self, upload_id: str) -> Path:
        """The local spool of a fetch (``caller_verifies``); pushes keep their bytes in S3 only."""
        return self.spools / Keys.check_upload_id(upload_id)

    async def start_upload(self, upload_id: str, *, caller_verifies: bool = False) -> S3BlobWriter:
        spool_path = self.upload_path(upload_id)
        self._hashes.forget(upload_id)
        if caller_verifies:
            spool = await asyncio.to_thread(open_spool, spool_path)
            return self._writer(upload_id, UploadState(), bytearray(), None, spool=spool, dirty=False)
        return self._writer(upload_id, UploadState(), bytearray(), hashlib.new(UPLOAD_HASH), dirty=True)

    async def resume_upload(self, upload_id: str) -> S3BlobWriter:
        saved = await self.objects.get_bytes(self.keys.state(upload_id))
        if saved is None:
            raise BlobUploadUnknownError(f"upload {upload_id} is unknown")
        state = UploadState.load(saved)
        hasher = self._hashes.at(upload_id, state.parts_size + state.tail_size)
        return self._writer(upload_id, state, None, hasher)

    def _writer(
        self,
        upload_id: str,
        state: UploadState,
        tail: bytearray | None,
        hasher: _Hash | None,
        *,
        spool: BinaryIO | None = None,
        dirty: bool = False,
    ) -> S3BlobWriter:
        return S3BlobWriter(
            self.objects,
            self._hashes,
            self.upload_path(upload_id),
            upload_id,
            state,
            tail,
            hasher,
            spool=spool,
            dirty=dirty,
        )

    async def delete_upload(self, upload_id: str) -> None:
        directory = self.keys.upload_dir(upload_id)
        self._hashes.forget(upload_id)
        await self.objects.remove_upload_objects(directory)
        await asyncio.to_thread(self.upload_path(upload_id).unlink, missing_ok=True)
