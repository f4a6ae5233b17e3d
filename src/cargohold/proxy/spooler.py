"""Writes a download into its spool in the background, so receiving from the upstream never waits on disk.

The copy loop hands each chunk to ``Spooler.put`` and goes back to the socket; a task writes the chunks in
order through the store's ``BlobWriter`` (which hashes them in a worker thread) and tells the flight how far
the file has got. At most ``backlog`` chunks wait to be written: when the disk falls that far behind, ``put``
waits, so memory stays bounded. A failed write surfaces from the next ``put`` or from ``finish``.
"""

from __future__ import annotations

import asyncio
from typing import Final

from cargohold.proxy.flight import Flight
from cargohold.storage.base import BlobWriter

BACKLOG_CHUNKS: Final = 16  # chunks (each at most the upstream read size, 256 KiB) waiting for the disk


class Spooler:
    """The background writer of one download's spool."""

    def __init__(self, writer: BlobWriter, flight: Flight, backlog: int = BACKLOG_CHUNKS) -> None:
        self._writer = writer
        self._flight = flight
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=backlog)
        self._task = asyncio.get_running_loop().create_task(self._write_all(), name=f"spool {flight.digest}")

    async def put(self, chunk: bytes) -> None:
        """Queue ``chunk`` for the spool; waits while the backlog is full; raises what a write raised."""
        await self._enqueue(chunk)

    async def finish(self) -> None:
        """Wait until every queued chunk is written; raises what a write raised."""
        await self._enqueue(None)
        await self._task

    async def close(self) -> None:
        """Stop writing (when ``finish`` was not reached: the download failed or was cancelled)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _enqueue(self, item: bytes | None) -> None:
        if not self._task.done() and not self._queue.full():
            self._queue.put_nowait(item)
            return
        waiting = asyncio.ensure_future(self._queue.put(item))
        try:
            await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()  # nothing when it went in
        if waiting.cancelled() or not waiting.done():
            self._task.result()  # the writer failed: its error
            raise RuntimeError("the spool writer stopped before the end of the body")

    async def _write_all(self) -> None:
        while (chunk := await self._queue.get()) is not None:
            await self._writer.write(chunk)
            self._flight.written(self._writer.flushed)
