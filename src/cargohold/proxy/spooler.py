"""Writes a download into its spool in the background, so receiving from the upstream never waits on disk.

The copy loop hands each chunk to ``Spooler.put`` and goes back to the socket; a task writes the chunks in
order through the store's ``BlobWriter`` (in a worker thread) and tells the flight how far the file has got.
At most ``backlog`` bytes wait to be written: when the disk falls that far behind, ``put`` waits, so memory
stays bounded. A failed write surfaces from the next ``put`` that waits, or from ``finish``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from cargohold.proxy.flight import Flight
from cargohold.storage.base import BlobWriter

BACKLOG_BYTES: Final = 4 * 1024 * 1024  # received bytes that may wait for the disk


class Spooler:
    """The background writer of one download's spool."""

    def __init__(self, writer: BlobWriter, flight: Flight, backlog: int = BACKLOG_BYTES) -> None:
        self._writer = writer
        self._flight = flight
        self._backlog = backlog
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._ended = False
        self._more = asyncio.Event()  # something to write, or the end
        self._room = asyncio.Event()  # the backlog is below its bound
        self._room.set()
        self._task = asyncio.get_running_loop().create_task(self._write_all(), name=f"spool {flight.digest}")

    async def put(self, chunk: bytes) -> None:
        """Queue ``chunk`` for the spool; waits while the backlog is full; raises what a write raised."""
        if self._task.done():
            self._task.result()  # the writer failed: its error
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        self._more.set()
        if self._pending_bytes >= self._backlog:
            self._room.clear()
            await self._until(self._room)

    async def finish(self) -> None:
        """Wait until every queued chunk is written; raises what a write raised."""
        self._ended = True
        self._more.set()
        await self._task

    async def close(self) -> None:
        """Stop writing (when ``finish`` was not reached: the download failed or was cancelled)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for ``event``; raise the writer's error if it stops first."""
        waiting = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if not event.is_set():
            self._task.result()  # the writer failed: its error
            raise RuntimeError("the spool writer stopped before the end of the body")

    async def _write_all(self) -> None:
        while True:
            while not self._pending:
                if self._ended:
                    return
                self._more.clear()
                await self._more.wait()
            chunk = self._pending.popleft()
            await self._writer.write(chunk)
            self._pending_bytes -= len(chunk)
            if self._pending_bytes < self._backlog:
                self._room.set()
            self._flight.written(self._writer.flushed)
