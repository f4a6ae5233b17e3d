"""One blob download as the clients of one process see it, and the feeds that stream it to them.

A ``Flight`` is the shared, in-process state of the download of one digest: whether (and how) the upstream
answered, where the growing spool lies, a progress counter, and the outcome (committed with a size, or
failed). Whoever moves the download on (the leader's copy loop, or the tailer that watches another process's
spool) calls ``progressed``; waiting feeds are woken by an ``asyncio.Event``, never by polling.

A ``BlobFeed`` streams the blob from its first byte, at its own pace (so a slow client slows nobody else).
When this process downloads the blob, the newest bytes are in the flight's memory window
(``cargohold.proxy.window``) and a feed that keeps up takes them from there; a feed that falls behind the
window, or follows another process's download, is handed regions of the spool file (``FileRegion``), which the
HTTP layer sends with sendfile, so those bytes never pass through Python. At the end of what has arrived it
waits for progress; once the blob is committed it finishes from its open descriptor (a committed spool is
renamed, not copied) or from the stored blob. The blob's last bytes are held back until every
byte is in and matches the digest, so a client never holds a whole body that did not verify; they go out
while the blob is being fsynced, committed and linked. A blob whose size nobody gave goes out chunked, as
bytes only (no file regions); its client learns the body is whole from the last chunk, which the HTTP layer
writes only once the feed ended, that is once the blob verified. When the download fails it raises
``UpstreamFailedError`` and the HTTP layer drops the client's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, cast

from cargohold.errors import BlobUnknownError, UpstreamFailedError
from cargohold.models import Digest
from cargohold.proxy.window import ByteWindow
from cargohold.storage.base import BlobStore

READ_CHUNK: Final = 256 * 1024  # bytes ``BlobFeed.chunks`` reads from a file per worker-thread call
REGION_MAX: Final = 16 * 1024 * 1024  # bytes of a file handed out as one region


@dataclass(frozen=True, slots=True)
class FileRegion:
    """``count`` bytes of an open file from ``offset``, to be sent without reading them into memory.

    The file belongs to the feed that yielded the region: it stays open until the feed is asked for its
    next part (or closed)."""

    file: BinaryIO
    offset: int
    count: int


FeedPart = bytes | FileRegion

OnCommitted = Callable[[int, str], Awaitable[None]]


class Flight:
    """The download of one digest, shared by every fetch() of it in this process."""

    def __init__(self, digest: Digest) -> None:
        self.digest = digest
        self.answered = asyncio.Event()  # set once the source answered, or failed before answering
        self.answer_error: BaseException | None = None  # what failed before the source answered
        self.spool_path: Path | None = None
        self.size: int | None = None  # Content-Length, when the upstream gave one
        self.proxy_name = ""
        self.verified_size: int | None = None  # every byte is in and matches the digest (not yet committed)
        self.stored_size: int | None = None  # committed to the store (the callbacks may still be running)
        self.committed_size: int | None = None  # committed, and every on_committed callback has run
        self.error: UpstreamFailedError | None = None  # why the download failed after answering
        self.callbacks: list[OnCommitted] = []
        self.window: ByteWindow | None = None  # the newest bytes, when this process is the downloader
        self.version = 0
        self._changed = asyncio.Event()

    @property
    def done(self) -> bool:
        return self.stored_size is not None or self.error is not None

    # --- moved on by the download ----------------------------------------------------------------

    def answer(
        self, spool_path: Path | None, size: int | None, proxy_name: str, *, downloading: bool = False
    ) -> None:
        """The source answered: feeds may read ``spool_path`` (None: the blob is committed already), and,
        when this process is ``downloading`` it, the chunks ``receive`` keeps in memory."""
        self.spool_path, self.size, self.proxy_name = spool_path, size, proxy_name
        if downloading:
            self.window = ByteWindow()
        self.answered.set()
        self.progressed()

    def receive(self, chunk: bytes) -> None:
        """A chunk arrived from the upstream (this process downloads): feeds may take it from memory."""
        if self.window is not None:
            self.window.append(chunk)
        self.progressed()

    def written(self, on_disk: int) -> None:
        """The spool file holds the first ``on_disk`` bytes."""
        if self.window is not None:
            self.window.written(on_disk)

    def fail_before_answer(self, error: BaseException) -> None:
        self.answer_error = error
        self.answered.set()
        self.progressed()

    def verify(self, size: int) -> None:
        """Every byte arrived and matches the digest: feeds may hand out the last ones."""
        self.verified_size = size
        self.progressed()

    def succeed(self, size: int) -> None:
        """The blob is committed; feeds finish once ``finish`` says it is linked where it was asked for."""
        self.stored_size = size
        self.window = None  # every byte is in the store now: feeds read the file
        if not self.answered.is_set():
            self.answer(None, size, self.proxy_name)
        self.progressed()

    def finish(self) -> None:
        """The on_committed callbacks ran: a client whose feed ends now finds the blob where it asked."""
        self.committed_size = self.stored_size
        self.progressed()

    def fail(self, error: UpstreamFailedError) -> None:
        if self.done:
            return
        if not self.answered.is_set():
            self.fail_before_answer(error)
        self.error = error
        self.progressed()

    def progressed(self) -> None:
        """Wake every feed waiting for more bytes or for the outcome."""
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed_since(self, version: int) -> None:
        """Return once ``progressed`` has been called after ``version`` was read."""
        if self.version == version:
            await self._changed.wait()

    async def settled(self) -> None:
        """Return once the download is committed and linked (every on_committed ran), or failed."""
        while self.committed_size is None and self.error is None:
            await self.changed_since(self.version)


class BlobFeed:
    """The bytes of one blob for one client, from the first byte, as they arrive."""

    def __init__(self, flight: Flight, store: BlobStore) -> None:
        self.digest = flight.digest
        self.size = flight.size if flight.size is not None else flight.committed_size
        self.proxy_name = flight.proxy_name
        self._flight = flight
        self._store = store
        self._iterator: AsyncIterator[FeedPart] | None = None  # what ``parts`` or ``chunks`` handed out

    def parts(self) -> AsyncIterator[FeedPart]:
        """The blob as bytes from memory and regions of files (call once, and ``chunks`` not at all).
        Raises UpstreamFailedError when the download fails midway.

        A blob of unknown size goes out chunked, and a region of a file sent into a chunked response would
        lack its chunk framing: such a feed hands out bytes only."""
        if self.size is None:
            return self.chunks()
        if self._iterator is None:
            self._iterator = self._read()
        return self._iterator

    def chunks(self) -> AsyncIterator[bytes]:
        """The blob's bytes, file regions read into memory (call once, and ``parts`` not at all)."""
        if self._iterator is None:
            self._iterator = _as_bytes(self._read())
        return cast("AsyncIterator[bytes]", self._iterator)

    async def aclose(self) -> None:
        """Stop reading and close the file it reads; the download itself carries on."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None:
            await cast("AsyncGenerator[object, None]", iterator).aclose()

    async def _read(self) -> AsyncIterator[FeedPart]:
        flight = self._flight
        position = 0
        file: BinaryIO | None = None
        try:
            while True:
                seen = flight.version
                if flight.error is not None:
                    raise _copy(flight.error)
                window = flight.window
                part: FeedPart | None = window.read(position) if window is not None else None
                if part is None and (window is None or position < window.start):
                    # Behind the window (or there is none): the bytes are in the spool or the stored blob.
                    if file is None and flight.committed_size is not None:
                        path = self._store.local_path(self.digest)
                        if path is None:  # a store without local files: stream what it reads
                            async for stored in self._store.read(self.digest, position):
                                position += len(stored)
                                yield stored
                            return
                        file = await _open_file(path)
                        if file is None:
                            raise BlobUnknownError(f"blob {self.digest} was removed while it was being sent")
                    if file is None:
                        file = await _open_file(flight.spool_path)
                        if file is None:  # not there: just committed (renamed) or failed (removed)
                            await flight.changed_since(seen)
                            continue
                    on_disk = os.fstat(file.fileno()).st_size
                    if on_disk > position:
                        part = FileRegion(file, position, min(on_disk - position, REGION_MAX))
                if part is not None:
                    length = len(part) if isinstance(part, bytes) else part.count
                    if self.size is not None and position + length >= self.size:
                        await self._until_verified()
                    position += length
                    yield part
                    continue
                if flight.verified_size is not None and position == flight.verified_size:
                    return
                if flight.committed_size is not None:
                    if position == flight.committed_size:
                        return
                    if file is not None:  # cannot happen with a renamed spool; finish from the stored blob
                        file.close()
                        file = None
                    continue
                await flight.changed_since(seen)
        finally:
            if file is not None:
                file.close()

    async def _until_verified(self) -> None:
        """Hold the blob's last bytes back until every byte is in and matches the digest, so a client whose
        bytes did not verify never gets a whole body. (A follow-up request that comes while the blob is being
        committed waits for it: ``BlobFetcher.settled``.)"""
        flight = self._flight
        while True:
            seen = flight.version
            if flight.error is not None:
                raise _copy(flight.error)
            if flight.verified_size is not None or flight.committed_size is not None:
                return
            await flight.changed_since(seen)


async def _as_bytes(parts: AsyncIterator[FeedPart]) -> AsyncIterator[bytes]:
    """``parts`` with each file region read into memory (``pread`` in a worker thread)."""
    try:
        async for part in parts:
            if isinstance(part, bytes):
                yield part
                continue
            offset, end = part.offset, part.offset + part.count
            while offset < end:
                chunk = await asyncio.to_thread(
                    os.pread, part.file.fileno(), min(READ_CHUNK, end - offset), offset
                )
                if not chunk:
                    raise OSError(f"{part.file.name} ended at {offset} of the {end} bytes it held")
                offset += len(chunk)
                yield chunk
    finally:
        await cast("AsyncGenerator[FeedPart, None]", parts).aclose()


async def _open_file(path: Path | None) -> BinaryIO | None:
    """The file at ``path`` opened for reading; None when there is none (closed by the feed)."""
    if path is None:
        return None

    def open_unbuffered() -> BinaryIO | None:
        with contextlib.suppress(FileNotFoundError):
            return cast(BinaryIO, open(path, "rb", buffering=0))
        return None

    return await asyncio.to_thread(open_unbuffered)


def _copy(error: UpstreamFailedError) -> UpstreamFailedError:
    """A fresh exception per feed, so concurrent feeds do not share one traceback."""
    copy = UpstreamFailedError(
        error.message,
        kind=error.kind,
        proxy_name=error.proxy_name,
        retry_after=error.retry_after,
        detail=error.detail,
    )
    copy.__cause__ = error
    return copy
