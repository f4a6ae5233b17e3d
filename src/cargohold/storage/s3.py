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
import contextlib
import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from cargohold.errors import (
    BlobUnknownError,
    BlobUploadInvalidError,
    BlobUploadUnknownError,
    ConfigError,
    DigestInvalidError,
    RangeNotSatisfiableError,
    SizeInvalidError,
)
from cargohold.models import Digest
from cargohold.storage.s3_client import (
    HEX_LENGTHS,
    Keys,
    S3Options,
    client_context,
    error_code,
    not_found,
    translated,
)

if TYPE_CHECKING:
    from hashlib import _Hash

    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

READ_CHUNK: Final = 256 * 1024
UPLOAD_HASH: Final = "sha256"
HASH_CACHE_ENTRIES: Final = 4096
MAX_PARTS: Final = 10_000  # S3's limit of parts in one multipart upload
COPY_MAX: Final = 5 * 1024**3  # the largest object one CopyObject copies; larger ones are copied in parts


@dataclass(slots=True)
class Part:
    number: int
    etag: str
    size: int


@dataclass(slots=True)
class UploadState:
    """What ``state`` keeps of a session between requests."""

    multipart_id: str | None = None
    parts: list[Part] = field(default_factory=list)
    tail_size: int = 0

    @property
    def parts_size(self) -> int:
        return sum(part.size for part in self.parts)

    def dump(self) -> bytes:
        return json.dumps(
            {
                "multipart_id": self.multipart_id,
                "parts": [[part.number, part.etag, part.size] for part in self.parts],
                "tail_size": self.tail_size,
            }
        ).encode()

    @classmethod
    def load(cls, data: bytes) -> UploadState:
        raw = json.loads(data)
        parts = [Part(int(number), str(etag), int(size)) for number, etag, size in raw["parts"]]
        return cls(raw["multipart_id"], parts, int(raw["tail_size"]))


class S3BlobStore:
    """``BlobStore`` over one bucket (and key prefix); local spools of fetches under ``spool_root``."""

    def __init__(self, client: S3Client, options: S3Options, spool_root: Path) -> None:
        self.client = client
        self.options = options
        self.bucket = options.bucket
        self.keys = Keys(options.prefix)
        self.part_size = options.part_size
        self.spools = spool_root / "uploads"
        self.spools.mkdir(parents=True, exist_ok=True)
        self._hash_states: OrderedDict[str, tuple[int, _Hash]] = OrderedDict()
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
            raise ConfigError(f"storage.s3: {where} cannot be reached: {error}") from None

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    # --- committed blobs ------------------------------------------------------------------------

    async def stat(self, digest: Digest) -> int | None:
        head = await self._head(self.keys.blob(digest))
        return None if head is None else int(head["ContentLength"])

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
        if await self._stat_key(key) == len(data) and await self._touch(key, len(data)):
            return digest
        with translated():
            await self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return digest

    async def delete(self, digest: Digest) -> None:
        with translated():
            await self.client.delete_object(Bucket=self.bucket, Key=self.keys.blob(digest))

    async def iter_digests(self) -> AsyncIterator[Digest]:
        async for key, _, _ in self.list_objects(self.keys.blobs):
            digest = self.keys.digest_of(key)
            if digest is not None:
                yield digest

    # --- uploads --------------------------------------------------------------------------------

    def upload_path(self, upload_id: str) -> Path:
        """The local spool of a fetch (``caller_verifies``); pushes keep their bytes in S3 only."""
        return self.spools / Keys.check_upload_id(upload_id)

    async def start_upload(self, upload_id: str, *, caller_verifies: bool = False) -> S3BlobWriter:
        Keys.check_upload_id(upload_id)
        self._hash_states.pop(upload_id, None)
        if caller_verifies:
            spool = await asyncio.to_thread(_open_spool, self.upload_path(upload_id))
            return S3BlobWriter(self, upload_id, UploadState(), bytearray(), None, spool=spool, dirty=False)
        return S3BlobWriter(self, upload_id, UploadState(), bytearray(), hashlib.new(UPLOAD_HASH), dirty=True)

    async def resume_upload(self, upload_id: str) -> S3BlobWriter:
        state_key = self.keys.state(upload_id)
        with translated():
            try:
                response = await self.client.get_object(Bucket=self.bucket, Key=state_key)
                state = UploadState.load(await response["Body"].read())
            except ClientError as error:
                if not_found(error):
                    raise BlobUploadUnknownError(f"upload {upload_id} is unknown") from None
                raise
        size = state.parts_size + state.tail_size
        hasher: _Hash | None = None
        cached = self._hash_states.get(upload_id)
        if cached is not None and cached[0] == size:
            hasher = cached[1].copy()
        return S3BlobWriter(self, upload_id, state, None, hasher)

    async def delete_upload(self, upload_id: str) -> None:
        directory = self.keys.upload_dir(upload_id)
        self._hash_states.pop(upload_id, None)
        await self.remove_upload_objects(directory)
        await asyncio.to_thread(self.upload_path(upload_id).unlink, missing_ok=True)

    # --- helpers shared with the writer and the sweeper -----------------------------------------

    async def list_objects(self, prefix: str) -> AsyncIterator[tuple[str, int, float]]:
        """(key, size, last modified) of every object under ``prefix``."""
        paginator = self.client.get_paginator("list_objects_v2")
        with translated():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], int(item["Size"]), item["LastModified"].timestamp()

    async def list_multipart(self, prefix: str) -> list[tuple[str, str, float]]:
        """(key, multipart upload id, initiated) of every multipart upload under ``prefix``."""
        found: list[tuple[str, str, float]] = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        with translated():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Uploads", []):
                    found.append((item["Key"], item["UploadId"], item["Initiated"].timestamp()))
        return found

    async def remove_upload_objects(self, directory: str) -> None:
        """Abort the multipart uploads and delete the objects under one upload's directory."""
        with translated():
            for key, multipart_id, _ in await self.list_multipart(directory):
                with contextlib.suppress(ClientError):
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=multipart_id
                    )
            async for key, _, _ in self.list_objects(directory):
                await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def _head(self, key: str) -> dict[str, Any] | None:
        with translated():
            try:
                return cast("dict[str, Any]", await self.client.head_object(Bucket=self.bucket, Key=key))
            except ClientError as error:
                if not_found(error):
                    return None
                raise

    async def _stat_key(self, key: str) -> int | None:
        head = await self._head(key)
        return None if head is None else int(head["ContentLength"])

    async def _touch(self, key: str, size: int) -> bool:
        """Make the object's last-modified time now (garbage collection reads it as "in use just now");
        False when it is gone. An object over 5 GiB cannot be copied onto itself in one call: kept as is."""
        if size > COPY_MAX:
            return await self._stat_key(key) is not None
        with translated():
            try:
                await self.client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    MetadataDirective="REPLACE",
                    Metadata={"touched": str(time.time())},
                )
            except ClientError as error:
                if not_found(error):
                    return False
                raise
        return True

    async def place(self, source: str, target: str, size: int) -> None:
        """Copy the verified object at ``source`` to ``target`` unless ``target`` holds it already."""
        if await self._stat_key(target) == size and await self._touch(target, size):
            return
        copy_source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source}
        with translated():
            if size <= COPY_MAX:
                await self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=copy_source)
                return
            part = max(self.part_size, math.ceil(size / MAX_PARTS))
            created = await self.client.create_multipart_upload(Bucket=self.bucket, Key=target)
            multipart_id = created["UploadId"]
            try:
                parts: list[CompletedPartTypeDef] = []
                for number, start in enumerate(range(0, size, part), start=1):
                    end = min(start + part, size) - 1
                    copied = await self.client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=target,
                        UploadId=multipart_id,
                        PartNumber=number,
                        CopySource=copy_source,
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                    parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=multipart_id, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=target, UploadId=multipart_id
                    )
                raise

    async def hash_object(self, key: str, algorithm: str) -> Digest:
        """The digest of an object, read back and hashed as it streams."""
        if algorithm not in HEX_LENGTHS:
            raise DigestInvalidError(f"unsupported digest algorithm {algorithm!r}")
        hasher = hashlib.new(algorithm)
        with translated():
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            try:
                async for chunk in body.iter_chunks(1024 * 1024):
                    hasher.update(chunk)
            finally:
                body.close()
        return Digest(algorithm, hasher.hexdigest())

    def remember_hash(self, upload_id: str, offset: int, hasher: _Hash) -> None:
        self._hash_states[upload_id] = (offset, hasher.copy())
        self._hash_states.move_to_end(upload_id)
        while len(self._hash_states) > HASH_CACHE_ENTRIES:
            self._hash_states.popitem(last=False)

    def forget_hash(self, upload_id: str) -> None:
        self._hash_states.pop(upload_id, None)


class S3BlobWriter:
    """One upload: bytes go to S3 part by part (and, for a fetch, to the local spool as they come)."""

    def __init__(
        self,
        store: S3BlobStore,
        upload_id: str,
        state: UploadState,
        tail: bytearray | None,
        hasher: _Hash | None,
        *,
        spool: BinaryIO | None = None,
        dirty: bool = False,
    ) -> None:
        self._store = store
        self._upload_id = upload_id
        self._state = state
        self._tail = tail if tail is not None else bytearray()  # received after the last whole part
        self._tail_loaded = tail is not None  # a resumed upload reads its tail only when it needs it
        self._saved_tail = self._keys_tail_of(store, upload_id, state) if tail is None else None
        self._hasher = hasher
        self._hashing = spool is None  # a fetch: the caller hashes (``caller_verifies``)
        self._spool = spool
        self._flushed = 0
        self._dirty = dirty  # the state in S3 is behind this writer
        self._closed = False
        self._keys = store.keys

    @property
    def upload_id(self) -> str:
        return self._upload_id

    @property
    def size(self) -> int:
        tail = len(self._tail) if self._tail_loaded else self._state.tail_size
        return self._state.parts_size + tail

    @property
    def flushed(self) -> int:
        return self._flushed if self._spool is not None else self.size

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise BlobUploadUnknownError(f"upload {self._upload_id} is already closed")
        if not data:
            return
        await self._load_tail()
        if self._spool is not None:
            await asyncio.to_thread(_append, self._spool, data)
            self._flushed += len(data)
        elif self._hasher is not None:
            if len(data) >= 64 * 1024:
                await asyncio.to_thread(self._hasher.update, data)
            else:
                self._hasher.update(data)
        self._tail += data
        self._dirty = True
        part_size = self._store.part_size
        while len(self._tail) >= part_size:
            await self._upload_part(bytes(self._tail[:part_size]))
            del self._tail[:part_size]

    async def commit(self, expected: Digest, expected_size: int | None = None) -> int:
        self._check_open()
        try:
            await self._load_tail()
            size = self.size
            if expected_size is not None and expected_size != size:
                raise SizeInvalidError(
                    f"upload has {size} bytes, not the {expected_size} declared",
                    detail={"size": size, "expected": expected_size},
                )
            target = self._keys.blob(expected)
            if self._state.multipart_id is None:
                data = bytes(self._tail)
                if self._hashing:
                    self._check(expected, await asyncio.to_thread(self._digest_of, data, expected.algorithm))
                if await self._store._stat_key(target) != size or not await self._store._touch(target, size):
                    with translated():
                        await self._store.client.put_object(Bucket=self._store.bucket, Key=target, Body=data)
            else:
                if self._tail:
                    await self._upload_part(bytes(self._tail))
                    self._tail.clear()
                data_key = self._keys.data(self._upload_id)
                with translated():
                    await self._store.client.complete_multipart_upload(
                        Bucket=self._store.bucket,
                        Key=data_key,
                        UploadId=self._state.multipart_id,
                        MultipartUpload={
                            "Parts": [
                                {"PartNumber": part.number, "ETag": part.etag} for part in self._state.parts
                            ]
                        },
                    )
                self._state.multipart_id = None
                if self._hashing:
                    if self._hasher is not None and expected.algorithm == UPLOAD_HASH:
                        actual = Digest(UPLOAD_HASH, self._hasher.hexdigest())
                    else:
                        actual = await self._store.hash_object(data_key, expected.algorithm)
                    self._check(expected, actual)
                await self._store.place(data_key, target, size)
        except BaseException:
            await self._discard()
            raise
        await self._discard()
        return size

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._spool is not None:
            await asyncio.to_thread(self._spool.close)
            return
        if self._dirty:
            await self._save()
        if self._hasher is not None:
            self._store.remember_hash(self._upload_id, self.size, self._hasher)

    async def abort(self) -> None:
        await self._discard()

    # --- internals ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BlobUploadUnknownError(f"upload {self._upload_id} is already closed")

    def _digest_of(self, data: bytes, algorithm: str) -> Digest:
        if algorithm == UPLOAD_HASH and self._hasher is not None:
            return Digest(algorithm, self._hasher.hexdigest())
        if algorithm not in HEX_LENGTHS:
            raise DigestInvalidError(f"unsupported digest algorithm {algorithm!r}")
        return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())

    @staticmethod
    def _check(expected: Digest, actual: Digest) -> None:
        if actual != expected:
            raise DigestInvalidError(
                f"upload hashes to {actual}, not {expected}", detail={"digest": str(expected)}
            )

    async def _upload_part(self, body: bytes) -> None:
        store, state = self._store, self._state
        data_key = self._keys.data(self._upload_id)
        number = len(state.parts) + 1
        if number > MAX_PARTS:
            raise BlobUploadInvalidError(
                f"the blob is larger than {MAX_PARTS} parts of {store.part_size} bytes (storage.s3.part_size)"
            )
        with translated():
            if state.multipart_id is None:
                created = await store.client.create_multipart_upload(Bucket=store.bucket, Key=data_key)
                state.multipart_id = created["UploadId"]
            answer = await store.client.upload_part(
                Bucket=store.bucket, Key=data_key, UploadId=state.multipart_id, PartNumber=number, Body=body
            )
        state.parts.append(Part(number, answer["ETag"], len(body)))

    @staticmethod
    def _keys_tail_of(store: S3BlobStore, upload_id: str, state: UploadState) -> str | None:
        return store.keys.tail(upload_id, state.parts_size + state.tail_size) if state.tail_size else None

    async def _load_tail(self) -> None:
        """Read the bytes after the last whole part that an earlier request left (once)."""
        if self._tail_loaded:
            return
        if self._saved_tail is not None:
            with translated():
                try:
                    response = await self._store.client.get_object(
                        Bucket=self._store.bucket, Key=self._saved_tail
                    )
                    self._tail = bytearray(await response["Body"].read())
                except ClientError as error:
                    if not_found(error):
                        raise BlobUploadUnknownError(
                            f"upload {self._upload_id} lost its last bytes"
                        ) from None
                    raise
        if len(self._tail) != self._state.tail_size:
            raise BlobUploadUnknownError(f"upload {self._upload_id} lost its last bytes")
        self._tail_loaded = True

    async def _save(self) -> None:
        """Write the tail, then the state naming it; then remove the tail the previous state named."""
        store, state = self._store, self._state
        state.tail_size = len(self._tail)
        current = self._keys.tail(self._upload_id, self.size) if self._tail else None
        with translated():
            if current is not None:
                await store.client.put_object(Bucket=store.bucket, Key=current, Body=bytes(self._tail))
            await store.client.put_object(
                Bucket=store.bucket, Key=self._keys.state(self._upload_id), Body=state.dump()
            )
            if self._saved_tail is not None and self._saved_tail != current:
                await store.client.delete_object(Bucket=store.bucket, Key=self._saved_tail)
        self._saved_tail = current
        self._dirty = False

    async def _discard(self) -> None:
        """Forget everything of this upload: its multipart upload, its objects and its local spool."""
        self._closed = True
        self._tail = bytearray()
        self._store.forget_hash(self._upload_id)
        spool, self._spool = self._spool, None
        if spool is not None:
            await asyncio.to_thread(spool.close)
        with contextlib.suppress(Exception):  # never mask the error that brought us here
            if self._state.multipart_id is not None:
                with contextlib.suppress(ClientError):
                    await self._store.client.abort_multipart_upload(
                        Bucket=self._store.bucket,
                        Key=self._keys.data(self._upload_id),
                        UploadId=self._state.multipart_id,
                    )
                self._state.multipart_id = None
            await self._store.remove_upload_objects(self._keys.upload_dir(self._upload_id))
        await asyncio.to_thread(self._store.upload_path(self._upload_id).unlink, missing_ok=True)


def _open_spool(path: Path) -> BinaryIO:
    return cast(BinaryIO, open(path, "wb", buffering=0))  # the writer closes it


def _append(file: BinaryIO, data: bytes) -> None:
    file.write(data)
