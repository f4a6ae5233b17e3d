"""``SpaceGuard``: whether the disk under the blob store has room for more bytes while keeping
``storage.min_free_bytes`` free, and making room by evicting cached content first.

A cache write asks ``room_for(n)`` before it starts: when the disk lacks room, eviction (and the garbage
collection that gives evicted bytes back) runs, bounded in time for the request that waits on it; when there
is still no room, the caller serves the pull straight through without caching it. A push asks ``has_room``:
there is nothing to evict for it (cached content goes only under its own limits), so a full store answers
507 at once. With no space reporter (a store without a local disk) there is always room.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from cargohold.storage.base import DiskSpace

__all__ = ["FULL_ERRNOS", "SpaceGuard", "is_disk_full"]

log = logging.getLogger(__name__)

FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
MAKE_ROOM_WAIT_SECONDS: Final = 10.0
"""How long a request waits for eviction to make room before it is served without caching (eviction goes on
in the background)."""


def is_disk_full(error: BaseException) -> bool:
    """An ``OSError`` saying the filesystem (or a quota) is full."""
    return isinstance(error, OSError) and error.errno in FULL_ERRNOS


class SpaceGuard:
    def __init__(
        self,
        space: Callable[[], DiskSpace] | None,
        min_free_bytes: int = 0,
        make_room: Callable[[int], Awaitable[object]] | None = None,
        wait_seconds: float = MAKE_ROOM_WAIT_SECONDS,
    ) -> None:
        self._space = space
        self._min_free = min_free_bytes
        self._make_room = make_room
        self._wait = wait_seconds
        self._making: asyncio.Task[object] | None = None

    def has_room(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more fit while ``min_free_bytes`` stay free (a cheap ``statvfs``)."""
        if self._space is None:
            return True
        return self._space().free_bytes - max(nbytes, 0) >= self._min_free

    async def room_for(self, nbytes: int) -> bool:
        """``has_room``, after evicting cached content to make room when there is none (one eviction at a
        time; a caller waits for it at most ``wait_seconds``)."""
        if self.has_room(nbytes):
            return True
        if self._make_room is None:
            return False
        if self._making is None or self._making.done():
            self._making = asyncio.ensure_future(self._make_room(nbytes))
            self._making.add_done_callback(_log_failure)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._making), self._wait)
        return self.has_room(nbytes)


def _log_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("making room on the disk failed", exc_info=task.exception())
