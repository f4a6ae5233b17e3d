"""Keeping a server's worker processes running: ``supervise`` starts them, starts a new one in place of any
that dies (logged with its exit code), forwards SIGHUP to them (each reloads its TLS certificate), and on
SIGTERM or SIGINT passes SIGTERM on and waits for them to drain (up to ``stop_timeout``, then SIGKILL).
Workers report on the ``ready`` pipe once they accept connections; ``on_ready`` gets each message.

A worker that keeps dying right after it started (a port taken, a broken configuration) is not restarted
forever: after ``MAX_QUICK_DEATHS`` deaths within ``QUICK_SECONDS`` of their start in a row, every worker is
stopped and ``supervise`` returns a non-zero exit code.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Final

log = logging.getLogger("cargohold")

QUICK_SECONDS: Final = 5.0
MAX_QUICK_DEATHS: Final = 5


def supervise(
    new_worker: Callable[[int], BaseProcess],
    count: int,
    *,
    ready: Connection | None = None,
    on_ready: Callable[[object], None] | None = None,
    stop_timeout: float | None = None,
) -> int:
    """Run ``count`` workers (``new_worker(index)`` makes an unstarted process) until told to stop; the
    exit code for the server: 0 when stopped by a signal, 1 when workers kept dying at once."""
    stopping = False
    workers: dict[int, tuple[BaseProcess, float]] = {}

    def start(index: int) -> None:
        process = new_worker(index)
        # the worker starts with SIGHUP blocked (the mask is inherited): one that comes before it can reload
        # waits for it instead of killing it (cargohold.running unblocks it)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        workers[index] = (process, time.monotonic())

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in workers.values():
            if process.is_alive():
                process.terminate()

    def hang_up(signum: int, frame: FrameType | None) -> None:
        for process, _ in workers.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)

    signal.signal(signal.SIGHUP, hang_up)
    for index in range(count):
        start(index)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # a SIGHUP held during start-up is passed on
    quick_deaths = 0
    while not stopping:
        waitable: list[object] = [process.sentinel for process, _ in workers.values()]
        if ready is not None:
            waitable.append(ready)
        for event in wait(waitable):  # type: ignore[arg-type]
            if event is ready and ready is not None:
                message = ready.recv()
                if on_ready is not None:
                    on_ready(message)
        for index, (process, started) in list(workers.items()):
            if process.is_alive() or stopping:
                continue
            process.join()
            quick = time.monotonic() - started < QUICK_SECONDS
            quick_deaths = quick_deaths + 1 if quick else 0
            if quick_deaths >= MAX_QUICK_DEATHS:
                log.error("worker processes keep exiting as soon as they start; stopping the server")
                stop(signal.SIGTERM, None)
                break
            log.warning("worker %d (pid %s) exited with code %s; starting a new one", index, process.pid,
                        process.exitcode)  # fmt: skip
            start(index)
    deadline = None if stop_timeout is None else time.monotonic() + stop_timeout
    for index, (process, _) in workers.items():
        process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("worker %d (pid %s) did not stop in time; killing it", index, process.pid)
            process.kill()
            process.join()
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    return 1 if quick_deaths >= MAX_QUICK_DEATHS else 0
