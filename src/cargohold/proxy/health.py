"""How healthy each proxy is: after a failure it is skipped for a backoff that doubles with each further
failure (capped), or for the upstream's own Retry-After on a rate limit; a success clears it.

State lives in the process (each worker learns on its own); the clock is injectable so tests can move time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cargohold.errors import FailureKind

ProxyKey = tuple[int, str]
"""(repository id, proxy name)."""

MAX_RETRY_AFTER: Final = 3600.0


@dataclass(frozen=True, slots=True)
class HealthState:
    consecutive_failures: int = 0
    last_failure: FailureKind | None = None
    last_message: str = ""
    retry_at: float = 0.0
    """Monotonic time before which the proxy is skipped."""
    retry_after: int | None = None


class HealthBook:
    def __init__(
        self,
        base_backoff: float = 5.0,
        max_backoff: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_backoff
        self._max = max_backoff
        self._clock = clock
        self._states: dict[ProxyKey, HealthState] = {}

    def backoff_remaining(self, key: ProxyKey) -> float:
        """Seconds until the proxy may be asked again; 0 when it may be asked now."""
        state = self._states.get(key)
        if state is None:
            return 0.0
        return max(0.0, state.retry_at - self._clock())

    def state(self, key: ProxyKey) -> HealthState:
        return self._states.get(key, HealthState())

    def failed(self, key: ProxyKey, kind: FailureKind, message: str, retry_after: int | None = None) -> float:
        """Record a failure and return the backoff it starts, in seconds."""
        failures = self.state(key).consecutive_failures + 1
        backoff = min(self._base * 2.0 ** min(failures - 1, 32), self._max)
        if kind is FailureKind.RATE_LIMITED and retry_after is not None:
            backoff = min(max(float(retry_after), backoff), MAX_RETRY_AFTER)
        self._states[key] = HealthState(failures, kind, message, self._clock() + backoff, retry_after)
        return backoff

    def succeeded(self, key: ProxyKey) -> None:
        self._states.pop(key, None)

    def forget(self, repository_id: int) -> None:
        """Drop what is known of a repository's proxies (after its proxy list changed)."""
        for key in [key for key in self._states if key[0] == repository_id]:
            del self._states[key]
