"""The default blob store: content-addressed files under one root directory, in the layout drawn in
``cargohold.storage.base``. Owns the spool → verify → fsync → atomic rename path that makes a blob visible
(or replaces a damaged file of the wrong size), resumable upload spools (with a process-local cache of hash
state so a resumed upload is not re-read), and streaming reads. Every disk operation runs in a worker thread
so the event loop never waits on the disk. Upload ids and digests are validated before they become paths, so
no caller can step outside the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, cast

from cargohold.errors import (
    BlobUnknownError,
    BlobUploadUnknownError,
    DigestInvalidError,
    RangeNotSatisfiableError,
    SizeInvalidError,
)
from cargohold.models import Digest
from cargohold.storage.base import DiskSpace, disk_space

if TYPE_CHECKING:
    from hashlib import _Hash

WRITE_BATCH: Final = 1024 * 1024  # bytes gathered before one write call
READ_CHUNK: Final = 256 * 1024  # bytes per chunk of a streamed read
HASH_CHUNK: Final = 1024 * 1024  # bytes per read when re-hashing a spool from disk
HASH_CACHE_ENTRIES: Final = 4096
UPLOAD_HASH: Final = "sha256"  # the algorithm hashed while bytes arrive; others are hashed at commit

_UPLOAD_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}
_HEX_RE: Final = re.compile(r"[0-9a-f]+", re.ASCII)


class FilesystemBlobStore:
    """Blobs under ``root/blobs``, upload spools under ``root/uploads``, small-write spools in ``root/tmp``.

    Safe to share one root between processes: commits are atomic renames and spools are append-only.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._tmp = root / "tmp"
        for directory in (self._blobs, self._uploads, self._tmp):
            directory.mkdir(parents=True, exist_ok=True)
        # upload id → (offset, hash state of the spool's first ``offset`` bytes); this process only.
        self._hash_states: OrderedDict[str, tuple[int, _Hash]] = OrderedDict()

    @property
    def spool_directory(self) -> Path:
        """Where small writes are spooled before their rename (``tmp/``): the readiness probe writes here."""
        return self._tmp

    # --- committed blobs ------------------------------------------------------------------------

    def space(self) -> DiskSpace:
        return disk_space(self.root)

    def blob_path(self, digest: Digest) -> Path:
        """Where a blob with ``digest`` lives; DigestInvalidError for anything that is not a clean digest."""
        length = _HEX_LENGTHS.get(digest.algorithm)
        if length is None or len(digest.hex) != length or not _HEX_RE.fullmatch(digest.hex):
            raise DigestInvalidError(f"invalid digest {str(digest)[:80]!r}")
        return self._blobs / digest.algorithm / digest.hex[:2] / digest.hex

    async def stat(self, digest: Digest) -> int | None:
        # Inline, as local_path is: a stat of a local file takes microseconds (it writes nothing, so it
        # never waits on the journal), far less than a hand-off to a worker thread on a busy machine.
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def local_path(self, digest: Digest) -> Path | None:
        path = self.blob_path(digest)
        return path if path.is_file() else None

    async def redirect_url(self, digest: Digest) -> str | None:
        return None  # served from the local file, with sendfile

    async def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (default: to the end) from ``offset`` in chunks of READ_CHUNK."""
        path = self.blob_path(digest)
        try:
            file, size = await asyncio.to_thread(_open_with_size, path, "rb")
        except FileNotFoundError:
            raise BlobUnknownError(f"blob {digest} is unknown", detail={"digest": str(digest)}) from None
        try:
            if offset < 0 or (length is not None and length < 0) or offset > size:
                raise RangeNotSatisfiableError(
                    f"offset {offset} is outside the blob of {size} bytes", size=size
                )
            remaining = size - offset if length is None else min(length, size - offset)
            if offset:
                file.seek(offset)
            while remaining > 0:
                chunk = await asyncio.to_thread(file.read, min(READ_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        finally:
            file.close()

    async def read_small(self, digest: Digest, limit: int) -> bytes:
        path = self.blob_path(digest)

        def load() -> bytes:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size > limit:
                    raise SizeInvalidError(
                        f"blob {digest} is {size} bytes; at most {limit} are read whole",
                        detail={"size": size, "limit": limit},
                    )
                return file.read()

        try:
            return await asyncio.to_thread(load)
        except FileNotFoundError:
            raise BlobUnknownError(f"blob {digest} is unknown", detail={"digest": str(digest)}) from None

    async def put_small(self, data: bytes) -> Digest:
        def store() -> Digest:
            digest = Digest.of(data)
            target = self.blob_path(digest)
            if _size_of(target) == len(data) and _touch(target):
                return digest
            spool = self._tmp / uuid.uuid4().hex
            try:
                with spool.open("xb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                self._move_into_place(spool, target)
            finally:
                spool.unlink(missing_ok=True)
            return digest

        return await asyncio.to_thread(store)

    async def delete(self, digest: Digest) -> None:
        path = self.blob_path(digest)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def iter_digests(self) -> AsyncIterator[Digest]:
        for algorithm, length in _HEX_LENGTHS.items():
            for prefix in await asyncio.to_thread(_list_dir, self._blobs / algorithm):
                if len(prefix) != 2:
                    continue
                for name in await asyncio.to_thread(_list_dir, self._blobs / algorithm / prefix):
                    if len(name) == length and name.startswith(prefix) and _HEX_RE.fullmatch(name):
                        yield Digest(algorithm, name)

    def _move_into_place(self, spool: Path, target: Path) -> None:
        """Atomically rename a verified, fsynced spool to ``target`` (blocking; run in a thread).

        When ``target`` already exists with the spool's size it is kept (and touched): content-addressed
        files never change. One of another size is damaged (truncated, say), and the verified spool
        replaces it.
        """
        existing = _size_of(target)
        if existing is not None and existing == os.stat(spool).st_size and _touch(target):
            return  # in use again just now: garbage collection keeps it for its grace period
        parent = target.parent
        if not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(parent.parent)
        os.replace(spool, target)
        _fsync_dir(parent)

    # --- uploads --------------------------------------------------------------------------------

    def upload_path(self, upload_id: str) -> Path:
        """The spool of an upload; BlobUploadUnknownError for an id that is not a plain token."""
        if not isinstance(upload_id, str) or not _UPLOAD_ID_RE.fullmatch(upload_id):
            raise BlobUploadUnknownError(f"invalid upload id {str(upload_id)[:80]!r}")
        return self._uploads / upload_id

    async def start_upload(self, upload_id: str, *, caller_verifies: bool = False) -> FilesystemBlobWriter:
        path = self.upload_path(upload_id)
        self._hash_states.pop(upload_id, None)
        file, _ = await asyncio.to_thread(_open_with_size, path, "wb")
        if caller_verifies:
            return FilesystemBlobWriter(self, upload_id, path, file, 0, None, hashing=False)
        return FilesystemBlobWriter(self, upload_id, path, file, 0, hashlib.new(UPLOAD_HASH))

    async def resume_upload(self, upload_id: str) -> FilesystemBlobWriter:
        path = self.upload_path(upload_id)
        try:
            file, size = await asyncio.to_thread(_open_with_size, path, "ab")
        except FileNotFoundError:
            raise BlobUploadUnknownError(f"upload {upload_id} is unknown") from None
        cached = self._hash_states.get(upload_id)
        hasher = cached[1].copy() if cached is not None and cached[0] == size else None
        return FilesystemBlobWriter(self, upload_id, path, file, size, hasher)

    async def delete_upload(self, upload_id: str) -> None:
        path = self.upload_path(upload_id)
        self._hash_states.pop(upload_id, None)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def _remember_hash(self, upload_id: str, offset: int, hasher: _Hash) -> None:
        self._hash_states[upload_id] = (offset, hasher.copy())
        self._hash_states.move_to_end(upload_id)
        while len(self._hash_states) > HASH_CACHE_ENTRIES:
            self._hash_states.popitem(last=False)

    def _forget_hash(self, upload_id: str) -> None:
        self._hash_states.pop(upload_id, None)


class FilesystemBlobWriter:
    """Appends to one upload spool. Writes are batched up to WRITE_BATCH bytes, then hashed and written in
    a worker thread. The sha256 state is known from the start, taken from the store's cache on resume, or
    rebuilt from the spool on disk when this process has none for the spool's current length."""

    def __init__(
        self,
        store: FilesystemBlobStore,
        upload_id: str,
        path: Path,
        file: BinaryIO,
        size: int,
        hasher: _Hash | None,
        *,
        hashing: bool = True,
    ) -> None:
        self._store = store
        self._hashing = hashing  # False: the caller hashes the bytes itself (``caller_verifies``)
        self._upload_id = upload_id
        self._path = path
        self._file: BinaryIO | None = file
        self._size = size
        self._written = size  # bytes handed to the file (and to the hasher)
        self._hasher = hasher
        self._pending: list[bytes] = []  # received, not yet handed to the file (held, never copied)
        self._pending_bytes = 0

    @property
    def upload_id(self) -> str:
        return self._upload_id

    @property
    def size(self) -> int:
        return self._size

    @property
    def flushed(self) -> int:
        return self._written

    async def write(self, data: bytes) -> None:
        if self._file is None:
            raise BlobUploadUnknownError(f"upload {self._upload_id} is already closed")
        if not data:
            return
        self._size += len(data)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= WRITE_BATCH:
            await self._flush()

    async def _verify(self, expected: Digest, expected_size: int | None) -> int:
        """Flush, then check the size and (unless the caller verifies) the digest; return the size."""
        await self._flush()
        size = self._size
        if expected_size is not None and expected_size != size:
            raise SizeInvalidError(
                f"upload has {size} bytes, not the {expected_size} declared",
                detail={"size": size, "expected": expected_size},
            )
        if not self._hashing:
            return size
        actual = await self._digest(expected.algorithm)
        if actual != expected:
            raise DigestInvalidError(
                f"upload hashes to {actual}, not {expected}", detail={"digest": str(expected)}
            )
        return size

    async def commit(self, expected: Digest, expected_size: int | None = None) -> int:
        file = self._open_file()
        try:
            size = await self._verify(expected, expected_size)
            await asyncio.to_thread(_sync_and_close, file)
            self._file = None
            target = self._store.blob_path(expected)
            await asyncio.to_thread(self._store._move_into_place, self._path, target)
        except BaseException:
            await self._discard()
            raise
        await self._discard()
        return size

    async def close(self) -> None:
        if self._file is None:
            return
        file = self._file
        try:
            await self._flush()
        finally:
            self._file = None
            await asyncio.to_thread(file.close)
        if self._hasher is not None:
            self._store._remember_hash(self._upload_id, self._written, self._hasher)

    async def abort(self) -> None:
        await self._discard()

    # --- internals ------------------------------------------------------------------------------

    def _open_file(self) -> BinaryIO:
        if self._file is None:
            raise BlobUploadUnknownError(f"upload {self._upload_id} is already closed")
        return self._file

    async def _flush(self) -> None:
        if self._pending:
            batch, size = self._pending, self._pending_bytes
            self._pending, self._pending_bytes = [], 0
            await self._append(batch, size)

    async def _append(self, chunks: list[bytes], size: int) -> None:
        file = self._open_file()
        hasher = self._hasher
        if hasher is None and self._hashing:
            # Resumed without cached state: rebuild it from the bytes already on disk, then carry on.
            hasher = await asyncio.to_thread(_hash_file, self._path, UPLOAD_HASH, self._written)
            self._hasher = hasher
        await asyncio.to_thread(_hash_and_write, file, hasher, chunks)
        self._written += size

    async def _digest(self, algorithm: str) -> Digest:
        if algorithm == UPLOAD_HASH and self._hasher is not None:
            return Digest(algorithm, self._hasher.hexdigest())
        if algorithm not in _HEX_LENGTHS:
            raise DigestInvalidError(f"unsupported digest algorithm {algorithm!r}")
        hasher = await asyncio.to_thread(_hash_file, self._path, algorithm, self._written)
        return Digest(algorithm, hasher.hexdigest())

    async def _discard(self) -> None:
        file, self._file = self._file, None
        self._pending, self._pending_bytes = [], 0
        self._store._forget_hash(self._upload_id)

        def remove() -> None:
            if file is not None:
                file.close()
            self._path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)


# --- blocking helpers (run in worker threads) ---------------------------------------------------------


def _open_with_size(path: Path, mode: str) -> tuple[BinaryIO, int]:
    """Open ``path`` in binary ``mode`` (rb, wb or ab) and return the file with its current size.

    ``ab`` appends to an existing file only: a missing one raises FileNotFoundError instead of appearing.
    """
    if mode == "ab":
        file = cast(BinaryIO, os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND), "ab"))
    else:
        file = cast(BinaryIO, open(path, mode))  # noqa: SIM115 - the caller owns and closes it
    try:
        return file, os.fstat(file.fileno()).st_size
    except BaseException:
        file.close()
        raise


def _hash_and_write(file: BinaryIO, hasher: _Hash | None, chunks: list[bytes]) -> None:
    for chunk in chunks:
        if hasher is not None:
            hasher.update(chunk)
        file.write(chunk)
    file.flush()  # into the OS file: readers of the spool see every byte written so far


def _sync_and_close(file: BinaryIO) -> None:
    try:
        file.flush()
        os.fsync(file.fileno())
    finally:
        file.close()


def _hash_file(path: Path, algorithm: str, length: int) -> _Hash:
    """The hash of the first ``length`` bytes of ``path``."""
    hasher = hashlib.new(algorithm)
    remaining = length
    with path.open("rb") as file:
        while remaining > 0:
            chunk = file.read(min(HASH_CHUNK, remaining))
            if not chunk:
                raise BlobUploadUnknownError(f"upload spool {path.name} is shorter than expected")
            hasher.update(chunk)
            remaining -= len(chunk)
    return hasher


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _size_of(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _touch(path: Path) -> bool:
    """Set the file's modification time to now; False when it is gone (collected meanwhile)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _list_dir(path: Path) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(entry.name for entry in entries)
    except FileNotFoundError:
        return []
