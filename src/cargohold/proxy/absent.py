"""Negative caching of manifests: a manifest that every active proxy of a repository said it does not have
is remembered as absent for ``ttl`` seconds, so a fleet asking for a missing tag does not send every
request to every upstream.

Only "not found by every proxy that was asked" is remembered, never a failure. Local content is looked up
before this memory is consulted, so a push of the name is served at once (in every worker process). A
change of a repository or its proxies forgets what was remembered for it — in the process that made the
change; the other worker processes of a server forget it when the entries expire (at most ``ttl`` later).
Bounded: the oldest entries go first once ``MAX_ENTRIES`` are remembered. The clock is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

MAX_ENTRIES: Final = 50_000

AbsentKey = tuple[int, str, str]
"""(repository id, image, tag or digest)."""


class AbsentManifests:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._until: dict[AbsentKey, float] = {}

    def remember(self, key: AbsentKey) -> None:
        """Every proxy said ``key`` is not there."""
        if self._ttl <= 0:
            return
        self._until.pop(key, None)
        self._until[key] = self._clock() + self._ttl
        while len(self._until) > MAX_ENTRIES:
            del self._until[next(iter(self._until))]

    def absent(self, key: AbsentKey) -> bool:
        """True while ``key`` is remembered as absent."""
        until = self._until.get(key)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._until[key]
        return False

    def forget(self, repository_id: int) -> None:
        """A repository or its proxies changed: ask them again."""
        for key in [key for key in self._until if key[0] == repository_id]:
            del self._until[key]
