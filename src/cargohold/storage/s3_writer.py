"""The S3 driver's writer of one upload (see ``cargohold.storage.s3`` for the whole picture).

It streams what it receives into a multipart upload under the upload's ``data`` key, one part of ``part_size``
at a time (for a fetch, every byte also goes to the local spool first); ``close`` saves the tail and the
``state`` so the next request, wherever it lands, resumes; ``commit`` verifies, completes and copies the
object to its blob key; ``abort`` (and a failed commit) leaves nothing behind. ``HashCache`` keeps the
running sha256 of sessions in this process between their requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, cast

from botocore.exceptions import ClientError

from cargohold.errors import (
    BlobUploadInvalidError,
    BlobUploadUnknownError,
    DigestInvalidError,
    SizeInvalidError,
)
from cargohold.models import Digest
from cargohold.storage.s3_bucket import MAX_PARTS, Bucket, Part, UploadState
from cargohold.storage.s3_client import HEX_LENGTHS, Keys, translated

if TYPE_CHECKING:
    from hashlib import _Hash

UPLOAD_HASH: Final = "sha256"
PARTS_IN_FLIGHT: Final = 2  # parts sent to S3 at once while more bytes arrive (memory: this + 1 parts)
HASH_CACHE_ENTRIES: Final = 4096


class HashCache:
    """upload id → (offset, sha256 state of the upload's first ``offset`` bytes), in this process only."""

    def __init__(self) -> None:
        self._states: OrderedDict[str, tuple[int, _Hash]] = OrderedDict()

    def remember(self, upload_id: str, offset: int, hasher: _Hash) -> None:
        self._states[upload_id] = (offset, hasher.copy())
        self._states.move_to_end(upload_id)
        while len(self._states) > HASH_CACHE_ENTRIES:
            self._states.popitem(last=False)

    def at(self, upload_id: str, offset: int) -> _Hash | None:
        """A copy of the hash state when this process knows it for exactly ``offset`` bytes."""
        cached = self._states.get(upload_id)
        return cached[1].copy() if cached is not None and cached[0] == offset else None

    def forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)


class S3BlobWriter:
    """One upload: bytes go to S3 part by part (and, for a fetch, to the local spool as they come)."""

    def __init__(
        self,
        bucket: Bucket,
        hashes: HashCache,
        spool_path: Path,
        upload_id: str,
        state: UploadState,
        tail: bytearray | None,
        hasher: _Hash | None,
        *,
        spool: BinaryIO | None = None,
        dirty: bool = False,
    ) -> None:
        self._bucket = bucket
        self._hashes = hashes
        self._spool_path = spool_path
        self._upload_id = upload_id
        self._state = state
        self._tail = tail if tail is not None else bytearray()  # received after the last whole part
        self._tail_loaded = tail is not None  # a resumed upload reads its tail only when it needs it
        self._saved_tail = self._keys_tail_of(bucket.keys, upload_id, state) if tail is None else None
        self._hasher = hasher
        self._hashing = spool is None  # a fetch: the caller hashes (``caller_verifies``)
        self._spool = spool
        self._flushed = 0
        self._dirty = dirty  # the state in S3 is behind this writer
        self._closed = False
        self._keys = bucket.keys
        self._sending: list[tuple[int, int, asyncio.Task[str]]] = []  # (part number, size, its ETag to be)
        self._in_s3 = tail is None  # whether S3 may hold anything of this upload (resumed: its state)

    @property
    def upload_id(self) -> str:
        return self._upload_id

    @property
    def size(self) -> int:
        tail = len(self._tail) if self._tail_loaded else self._state.tail_size
        return self._state.parts_size + sum(size for _, size, _ in self._sending) + tail

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
        part_size = self._bucket.part_size
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
                if await self._bucket.stat(target) != size or not await self._bucket.touch(target, size):
                    await self._bucket.put_bytes(target, data)
            else:
                if self._tail:
                    await self._upload_part(bytes(self._tail))
                    self._tail.clear()
                await self._drain()
                data_key = self._keys.data(self._upload_id)
                with translated():
                    await self._bucket.client.complete_multipart_upload(
                        Bucket=self._bucket.name,
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
                        actual = await self._bucket.hash_object(data_key, expected.algorithm)
                    self._check(expected, actual)
                await self._bucket.place(data_key, target, size)
        except BaseException:
            await self._discard()
            raise
        await self._discard()
        return size

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._spool is not None:  # a fetch is never resumed: what it sent is aborted by GC
            await self._cancel_sending()
            await asyncio.to_thread(self._spool.close)
            return
        try:
            await self._drain()
        except BaseException:
            await self._cancel_sending()
            raise
        if self._dirty:
            await self._save()
        if self._hasher is not None:
            self._hashes.remember(self._upload_id, self.size, self._hasher)

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
        """Send one part in the background; wait while PARTS_IN_FLIGHT are on their way already."""
        bucket, state = self._bucket, self._state
        number = len(state.parts) + len(self._sending) + 1
        if number > MAX_PARTS:
            raise BlobUploadInvalidError(
                f"the blob is larger than {MAX_PARTS} parts of {bucket.part_size} bytes "
                "(storage.s3.part_size)"
            )
        if state.multipart_id is None:
            self._in_s3 = True
            with translated():
                created = await bucket.client.create_multipart_upload(
                    Bucket=bucket.name, Key=self._keys.data(self._upload_id)
                )
            state.multipart_id = created["UploadId"]
        task = asyncio.ensure_future(self._send_part(state.multipart_id, number, body))
        self._sending.append((number, len(body), task))
        while len(self._sending) > PARTS_IN_FLIGHT:
            await self._settle_first()

    async def _send_part(self, multipart_id: str, number: int, body: bytes) -> str:
        bucket = self._bucket
        with translated():
            answer = await bucket.client.upload_part(
                Bucket=bucket.name,
                Key=self._keys.data(self._upload_id),
                UploadId=multipart_id,
                PartNumber=number,
                Body=body,
            )
        return answer["ETag"]

    async def _settle_first(self) -> None:
        """Wait for the oldest part on its way and record it (raises what sending it raised)."""
        number, size, task = self._sending[0]
        etag = await task
        self._sending.pop(0)
        self._state.parts.append(Part(number, etag, size))

    async def _drain(self) -> None:
        while self._sending:
            await self._settle_first()

    async def _cancel_sending(self) -> None:
        sending, self._sending = self._sending, []
        for _, _, task in sending:
            task.cancel()
        await asyncio.gather(*(task for _, _, task in sending), return_exceptions=True)

    @staticmethod
    def _keys_tail_of(keys: Keys, upload_id: str, state: UploadState) -> str | None:
        return keys.tail(upload_id, state.parts_size + state.tail_size) if state.tail_size else None

    async def _load_tail(self) -> None:
        """Read the bytes after the last whole part that an earlier request left (once)."""
        if self._tail_loaded:
            return
        if self._saved_tail is not None:
            data = await self._bucket.get_bytes(self._saved_tail)
            if data is None:
                raise BlobUploadUnknownError(f"upload {self._upload_id} lost its last bytes")
            self._tail = bytearray(data)
        if len(self._tail) != self._state.tail_size:
            raise BlobUploadUnknownError(f"upload {self._upload_id} lost its last bytes")
        self._tail_loaded = True

    async def _save(self) -> None:
        """Write the tail, then the state naming it; then remove the tail the previous state named."""
        bucket, state = self._bucket, self._state
        state.tail_size = len(self._tail)
        current = self._keys.tail(self._upload_id, self.size) if self._tail else None
        self._in_s3 = True
        if current is not None:
            await bucket.put_bytes(current, bytes(self._tail))
        await bucket.put_bytes(self._keys.state(self._upload_id), state.dump())
        if self._saved_tail is not None and self._saved_tail != current:
            await bucket.delete_key(self._saved_tail)
        self._saved_tail = current
        self._dirty = False

    async def _discard(self) -> None:
        """Forget everything of this upload: its multipart upload, its objects and its local spool."""
        self._closed = True
        self._tail = bytearray()
        await self._cancel_sending()
        self._hashes.forget(self._upload_id)
        spool, self._spool = self._spool, None
        if spool is not None:
            await asyncio.to_thread(spool.close)
        with contextlib.suppress(Exception):  # never mask the error that brought us here
            if self._state.multipart_id is not None:
                with contextlib.suppress(ClientError):
                    await self._bucket.client.abort_multipart_upload(
                        Bucket=self._bucket.name,
                        Key=self._keys.data(self._upload_id),
                        UploadId=self._state.multipart_id,
                    )
                self._state.multipart_id = None
            if self._in_s3:  # a small fetch or push that never left memory has nothing to remove there
                await self._bucket.remove_upload_objects(self._keys.upload_dir(self._upload_id))
        await asyncio.to_thread(self._spool_path.unlink, missing_ok=True)


def open_spool(path: Path) -> BinaryIO:
    return cast(BinaryIO, open(path, "wb", buffering=0))  # the writer closes it


def _append(file: BinaryIO, data: bytes) -> None:
    file.write(data)
