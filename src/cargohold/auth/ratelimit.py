"""Counting failed sign-ins and pacing the checks of an account under attack.

``FailureLimiter`` keeps, per key (a client address, a user name, or both), the times of the failures within
a sliding window, and says how long to wait once a key has used up its allowance. ``Pacer`` hands out turns
at most one per ``interval`` per key, and refuses a turn further away than ``max_wait``. Both are in memory
and per process (workers each count their own), bounded in the keys they remember so a flood of made-up
names cannot grow them without end: past ``max_keys`` the least recently used go first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final

MAX_KEYS: Final = 100_000


class FailureLimiter:
    """At most ``max_failures`` failures per key within ``window_seconds``; ``clock`` is monotonic."""

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None when it may try now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.max_failures:
            return None
        wait = failures[-self.max_failures] + self.window_seconds - self._clock()
        return max(1, math.ceil(wait))

    def fail(self, key: str) -> None:
        """Count a failure of ``key`` now."""
        failures = self._recent(key)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self.max_failures)
        failures.append(self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def failures(self, key: str) -> int:
        """How many failures of ``key`` lie within the window."""
        failures = self._recent(key)
        return 0 if failures is None else len(failures)

    def _recent(self, key: str) -> deque[float] | None:
        """The key's failures within the window (older ones dropped), or None when there are none."""
        failures = self._failures.get(key)
        if failures is None:
            return None
        horizon = self._clock() - self.window_seconds
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures


class Pacer:
    """Turns at most one per ``interval`` seconds per key; ``clock`` is monotonic."""

    def __init__(
        self,
        interval: float,
        max_wait: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_wait = max_wait
        self._max_keys = max_keys
        self._clock = clock
        self._next: OrderedDict[str, float] = OrderedDict()

    def turn(self, key: str) -> float | None:
        """Reserve the key's next turn: seconds to wait for it (0 when it is now), or None when it is
        further away than ``max_wait`` (nothing is reserved then)."""
        now = self._clock()
        slot = max(now, self._next.get(key, now))
        wait = slot - now
        if wait > self.max_wait:
            return None
        self._next[key] = slot + self.interval
        self._next.move_to_end(key)
        while len(self._next) > self._max_keys:
            self._next.popitem(last=False)
        return wait

    def retry_after(self, key: str) -> int:
        """Whole seconds until a turn of ``key`` would be within ``max_wait`` again."""
        wait = self._next.get(key, 0.0) - self._clock() - self.max_wait
        return max(1, math.ceil(wait))
