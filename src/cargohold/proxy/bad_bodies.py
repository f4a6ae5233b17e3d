"""Which proxies sent bad bytes for which blob: a bounded, expiring memory, so that a proxy whose body of a
blob was corrupt or cut short is not asked for that blob again for a while (``BAD_BODY_SECONDS``), and the
next request goes to the next proxy. Per process: each worker learns from the downloads it leads.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from cargohold.models import Digest

BAD_BODY_SECONDS: Final = 3600.0
MAX_ENTRIES: Final = 65_536  # (repository, blob, proxy) entries kept, the oldest dropped first

_Key = tuple[int, Digest, str]


class BadBodies:
    """Bounded memory of (repository id, blob digest, proxy name) -> until when that proxy is avoided."""

    def __init__(
        self,
        seconds: float = BAD_BODY_SECONDS,
        capacity: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._capacity = capacity
        self._clock = clock
        self._until: OrderedDict[_Key, float] = OrderedDict()

    def record(self, repository_id: int, digest: Digest, proxy_name: str) -> None:
        """``proxy_name`` sent a body of ``digest`` that was corrupt or cut short."""
        key = (repository_id, digest, proxy_name)
        self._until[key] = self._clock() + self._seconds
        self._until.move_to_end(key)
        while len(self._until) > self._capacity:
            self._until.popitem(last=False)

    def proxies(self, repository_id: int, digest: Digest, candidates: list[str]) -> frozenset[str]:
        """Those of ``candidates`` that sent bad bytes of the blob lately."""
        now = self._clock()
        avoided = set()
        for name in candidates:
            key = (repository_id, digest, name)
            until = self._until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._until[key]
                continue
            avoided.add(name)
        return frozenset(avoided)
