"""``GET /healthz`` (the process is alive and its event loop answers) and ``GET /readyz`` (it can serve: the
database answers a real query, the blob store takes a real small write, its filesystem is above the
free-space reserve). Both are public and cheap.

``/readyz`` answers 200 or 503 with a JSON body naming each check, whether it passed, and why not::

    {"status": "not ready", "checks": {"database": {"ok": true},
     "blob_store": {"ok": false, "error": "cannot write: Operation not permitted"},
     "free_space": {"ok": true, "free_bytes": 52428800, "reserve_bytes": 0}}}

Every check is bounded by ``CHECK_TIMEOUT_SECONDS``; the checks run together, concurrent callers share one
run, and a result is reused for ``RESULT_TTL_SECONDS``, so a flood of probes costs at most one round of
checks a second. The public reasons are short (no paths, no driver messages); the log has the details.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from cargohold.storage.readiness import free_space_problem, write_probe

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS: Final = 2.0
RESULT_TTL_SECONDS: Final = 1.0


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``error`` is None when it passed; ``detail`` adds figures to the answer."""

    error: str | None = None
    detail: Mapping[str, int | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.error is None, **self.detail}
        if self.error is not None:
            body["error"] = self.error
        return body


Check = Callable[[], Awaitable[CheckResult]]


def database_check(ping: Callable[[], Awaitable[None]]) -> Check:
    """The database answers ``ping`` (a real query through the pool requests use)."""

    async def check() -> CheckResult:
        try:
            await ping()
        except Exception as error:  # any driver failure means "not ready"; the log keeps the detail
            log.warning("readiness: the database did not answer: %s: %s", type(error).__name__, error)
            return CheckResult(f"the database did not answer ({type(error).__name__})")
        return CheckResult()

    return check


def blob_store_check(spool_directory: Path) -> Check:
    """A small file can be written to and removed from the blob store's spool area."""

    async def check() -> CheckResult:
        problem = await asyncio.to_thread(write_probe, spool_directory)
        if problem is not None:
            log.warning("readiness: the blob store in %s: %s", spool_directory, problem)
        return CheckResult(problem)

    return check


def free_space_check(directory: Path, reserve_bytes: int) -> Check:
    """The blob store's filesystem has more than ``reserve_bytes`` free."""

    async def check() -> CheckResult:
        free, problem = await asyncio.to_thread(free_space_problem, directory, reserve_bytes)
        if problem is not None:
            log.warning("readiness: free space of %s: %s", directory, problem)
        return CheckResult(problem, {"free_bytes": free, "reserve_bytes": reserve_bytes})

    return check


class Readiness:
    """Runs named checks together, each bounded in time, sharing one run between concurrent callers."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        timeout: float = CHECK_TIMEOUT_SECONDS,
        ttl: float = RESULT_TTL_SECONDS,
    ) -> None:
        self._checks = dict(checks)
        self._timeout = timeout
        self._ttl = ttl
        self._last: tuple[float, dict[str, CheckResult]] | None = None
        self._running: asyncio.Task[dict[str, CheckResult]] | None = None

    async def results(self) -> dict[str, CheckResult]:
        """Each check's result: a fresh one unless a run ended less than ``ttl`` seconds ago."""
        if self._last is not None and time.monotonic() - self._last[0] < self._ttl:
            return self._last[1]
        if self._running is None:
            self._running = asyncio.create_task(self._run())
            self._running.add_done_callback(self._finished)
        return await asyncio.shield(self._running)

    def _finished(self, task: asyncio.Task[dict[str, CheckResult]]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._last = (time.monotonic(), task.result())

    async def _run(self) -> dict[str, CheckResult]:
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._bounded(self._checks[name]) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _bounded(self, check: Check) -> CheckResult:
        try:
            return await asyncio.wait_for(check(), self._timeout)
        except TimeoutError:
            return CheckResult(f"no answer within {self._timeout:g} s")
        except Exception as error:  # a check that broke is a failed check, never a 500
            log.exception("readiness: a check failed unexpectedly")
            return CheckResult(f"the check failed ({type(error).__name__})")


READINESS_KEY: Final = web.AppKey("readiness", Readiness)


async def healthz(request: web.Request) -> web.Response:
    """The process is alive: it answers without looking at anything else."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when every check passed, else 503; the body names each check and what failed."""
    results = await request.app[READINESS_KEY].results()
    ready = all(result.error is None for result in results.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {name: result.as_json() for name, result in results.items()},
    }
    return web.json_response(body, status=200 if ready else 503, headers={"Cache-Control": "no-store"})


def add_health_routes(app: web.Application, readiness: Readiness) -> None:
    app[READINESS_KEY] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
