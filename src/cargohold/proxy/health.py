"""How healthy each proxy is: a circuit breaker per proxy.

The circuit opens (the proxy is skipped) at once on a failure of the connection itself — refused,
unreachable, a timeout, TLS — and on a rate limit (for at least its Retry-After). A failure of one request
(a 5xx, bad content, a refused body) opens it only when ``threshold`` distinct requests failed within
``window`` seconds with no success in between, so one odd path (or one anonymous client asking for it) never
takes a proxy away from everyone. The backoff doubles with each opening (capped). When it ends, the circuit
is half-open: users' pulls still skip the proxy until a health probe (``ProxyResolver`` runs it in the
background) says it is alive again (``probed``), or says it is not and the circuit opens once more. A
success of a request closes the circuit and forgets the failures.

State lives in the process (each worker learns on its own); the clock is injectable so tests can move time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from cargohold.errors import FailureKind

ProxyKey = tuple[int, str]
"""(repository id, proxy name)."""

MAX_RETRY_AFTER: Final = 3600.0
FAILURE_THRESHOLD: Final = 5
"""Distinct requests that must fail (within ``FAILURE_WINDOW``) before a request failure opens the circuit."""
FAILURE_WINDOW: Final = 60.0
CONNECTION_FAILURES: Final = frozenset(
    {FailureKind.UNREACHABLE, FailureKind.TLS, FailureKind.TIMEOUT, FailureKind.RATE_LIMITED}
)
"""Failures that say the upstream as a whole cannot be asked now: they open the circuit at once."""
MAX_REMEMBERED: Final = 64  # request failures remembered per proxy (more than any threshold)


@dataclass(frozen=True, slots=True)
class HealthState:
    consecutive_failures: int = 0
    """Failures since the last success (of any kind, opening the circuit or not)."""
    last_failure: FailureKind | None = None
    last_message: str = ""
    retry_at: float = 0.0
    """Monotonic time before which the proxy is skipped (and not probed)."""
    retry_after: int | None = None
    open: bool = False
    """Skipped by pulls: backing off, or half-open until a probe says it is alive."""
    openings: int = 0
    """Times the circuit opened since the last success (each doubles the backoff)."""
    recent: tuple[tuple[str, float], ...] = ()
    """(request, when) of the request failures since the last success, newest last."""


class HealthBook:
    def __init__(
        self,
        base_backoff: float = 5.0,
        max_backoff: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        threshold: int = FAILURE_THRESHOLD,
        window: float = FAILURE_WINDOW,
    ) -> None:
        self._base = base_backoff
        self._max = max_backoff
        self._clock = clock
        self._threshold = max(1, threshold)
        self._window = window
        self._states: dict[ProxyKey, HealthState] = {}

    def backoff_remaining(self, key: ProxyKey) -> float:
        """Seconds until the proxy may be probed again; 0 when its backoff is over (or it never had one)."""
        state = self._states.get(key)
        if state is None or not state.open:
            return 0.0
        return max(0.0, state.retry_at - self._clock())

    def may_ask(self, key: ProxyKey) -> bool:
        """False while the circuit is open or half-open: pulls skip the proxy."""
        state = self._states.get(key)
        return state is None or not state.open

    def half_open(self, key: ProxyKey) -> bool:
        """True when the backoff is over and a probe should find out whether the proxy is alive."""
        state = self._states.get(key)
        return state is not None and state.open and state.retry_at <= self._clock()

    def state(self, key: ProxyKey) -> HealthState:
        return self._states.get(key, HealthState())

    def failed(
        self,
        key: ProxyKey,
        kind: FailureKind,
        message: str,
        retry_after: int | None = None,
        *,
        request: str | None = None,
        connection: bool | None = None,
    ) -> float:
        """Record a failure; return the backoff it started in seconds (0 when the circuit stays closed).

        ``request`` names what was asked (the same request failing twice counts once; default: the
        message). ``connection`` says whether the failure concerns the upstream as a whole (default: by
        ``kind``, see ``CONNECTION_FAILURES``)."""
        now = self._clock()
        state = self.state(key)
        whole = kind in CONNECTION_FAILURES if connection is None else connection
        subject = request if request is not None else message
        recent = tuple((name, at) for name, at in state.recent if name != subject and now - at < self._window)
        recent = (*recent, (subject, now))[-MAX_REMEMBERED:]
        state = replace(
            state,
            consecutive_failures=state.consecutive_failures + 1,
            last_failure=kind,
            last_message=message,
            retry_after=retry_after,
            recent=recent,
        )
        if not whole and len(recent) < self._threshold:
            self._states[key] = state
            return 0.0
        return self._open(key, state, kind, retry_after)

    def probed(self, key: ProxyKey, alive: bool, message: str = "") -> float:
        """The health probe's verdict on a half-open proxy: alive closes the circuit (the backoff keeps
        doubling if it opens again before a request succeeds); not alive opens it again. Returns the
        backoff now running (0 when closed). A verdict before the backoff is over changes nothing."""
        state = self._states.get(key)
        if state is None or not state.open or not self.half_open(key):
            return self.backoff_remaining(key)
        if alive:
            self._states[key] = replace(state, open=False, recent=())
            return 0.0
        failed = replace(state, last_failure=FailureKind.UNREACHABLE, last_message=message or "probe failed")
        return self._open(key, failed, FailureKind.UNREACHABLE, None)

    def succeeded(self, key: ProxyKey) -> None:
        self._states.pop(key, None)

    def forget(self, repository_id: int) -> None:
        """Drop what is known of a repository's proxies (after its proxy list changed)."""
        for key in [key for key in self._states if key[0] == repository_id]:
            del self._states[key]

    def _open(self, key: ProxyKey, state: HealthState, kind: FailureKind, retry_after: int | None) -> float:
        openings = state.openings + 1
        backoff = min(self._base * 2.0 ** min(openings - 1, 32), self._max)
        if kind is FailureKind.RATE_LIMITED and retry_after is not None:
            backoff = min(max(float(retry_after), backoff), MAX_RETRY_AFTER)
        self._states[key] = replace(
            state, open=True, openings=openings, retry_at=self._clock() + backoff, recent=()
        )
        return backoff
