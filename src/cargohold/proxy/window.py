"""The newest bytes of a download, kept in memory so clients that keep up never read them back from disk.

The leader of a download appends every chunk as it arrives from the upstream, before it is written to the
spool; its spool writer says how far the file has got. Chunks are dropped from the front once they are in
the file and at least ``keep`` newer bytes are held, so a client that falls behind the window finds what it
needs in the spool, and memory per download stays within ``keep`` plus the bytes not yet written.
"""

from __future__ import annotations

from collections import deque
from typing import Final

KEEP_BYTES: Final = 2 * 1024 * 1024  # newest bytes held even once they are in the spool


class ByteWindow:
    """Chunks ``[start, end)`` of one body, in order."""

    def __init__(self, keep: int = KEEP_BYTES) -> None:
        self._keep = keep
        self._chunks: deque[tuple[int, bytes]] = deque()  # (offset, chunk)
        self.start = 0  # offset of the first byte held
        self.end = 0  # bytes received so far

    def append(self, chunk: bytes) -> None:
        if chunk:
            self._chunks.append((self.end, chunk))
            self.end += len(chunk)

    def written(self, on_disk: int) -> None:
        """The spool holds the first ``on_disk`` bytes: drop chunks it holds beyond the newest ``keep``."""
        chunks = self._chunks
        while chunks:
            offset, chunk = chunks[0]
            chunk_end = offset + len(chunk)
            if chunk_end > on_disk or self.end - chunk_end < self._keep:
                break
            chunks.popleft()
            self.start = chunk_end

    def read(self, position: int) -> bytes | None:
        """The bytes from ``position`` to the end of the chunk holding it; None when not held."""
        if not self.start <= position < self.end:
            return None
        for offset, chunk in reversed(self._chunks):
            if offset <= position:
                return chunk if offset == position else chunk[position - offset :]
        return None  # unreachable: start <= position means a chunk holds it
