"""The HTTP metrics in Prometheus form: request latency by route kind and cache outcome, responses by
status class, requests in flight, and the process's own metrics.

One worker (the default): the metrics live in a registry of this ``HttpMetrics`` and the process, platform
and garbage-collector collectors of prometheus-client describe this process.

Several workers: ``prepare_multiprocess(directory)`` (called by the parent before it starts them) points
prometheus-client's multi-process mode at an emptied directory; each worker then writes its samples to
memory-mapped files there, and a scrape, whichever worker answers it, adds up every worker's (those of
workers that exited included, so counters never go backwards). The in-flight gauge counts live workers only:
files of workers that are gone are dropped at each scrape. Process metrics then describe the worker that
answered the scrape, as the proxies' health does in the repository metrics.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
"""Seconds: a cached manifest takes about a millisecond, a cold multi-GiB layer minutes."""
_LIVE_GAUGE_FILE: Final = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def prepare_multiprocess(directory: Path) -> None:
    """Empty ``directory`` and name it in the environment the worker processes inherit (before they start)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


class HttpMetrics:
    """The request metrics of one server process, and the collectors a scrape reads them through."""

    def __init__(self) -> None:
        directory = os.environ.get(MULTIPROCESS_ENV)
        self._directory = Path(directory) if directory else None
        self._registry = CollectorRegistry() if self._directory is None else None
        registry = self._registry
        self.latency = Histogram(
            "cargohold_http_request_duration_seconds",
            "Time from a request's arrival to its last byte sent, by route kind and cache outcome",
            ["route", "cache"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.responses = Counter(
            "cargohold_http_responses",
            "Responses by route kind and status class (2xx, 3xx, 4xx, 5xx; 499: the client went away)",
            ["route", "status"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "cargohold_http_requests_in_flight",
            "Requests being handled now (a cached blob's body, sent by the kernel afterwards, not counted)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._process = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self._process)
        PlatformCollector(registry=self._process)
        GCCollector(registry=self._process)

    def observe(self, route: str, cache: str, status: int, seconds: float) -> None:
        """One finished request."""
        self.latency.labels(route, cache).observe(seconds)
        self.responses.labels(route, _status_class(status)).inc()

    def collectors(self) -> list[Collector]:
        """What a scrape registers to read these metrics (and the process's)."""
        if self._directory is None:
            return [self._process]
        return [_Workers(self._directory), self._process]


def _status_class(status: int) -> str:
    return "499" if status == 499 else f"{status // 100}xx"


class _Workers(Collector):
    """Every worker's samples from the multi-process directory, after dropping dead workers' gauges."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        for pid in _dead_pids(self._directory.iterdir()):
            prometheus_multiprocess.mark_process_dead(pid, str(self._directory))  # type: ignore[no-untyped-call]
        collector = prometheus_multiprocess.MultiProcessCollector(None, str(self._directory))  # type: ignore[no-untyped-call]
        yield from collector.collect()  # type: ignore[no-untyped-call]


def _dead_pids(paths: Iterable[Path]) -> set[int]:
    pids = set()
    for path in paths:
        match = _LIVE_GAUGE_FILE.match(path.name)
        if match is not None and not _alive(int(match[1])):
            pids.add(int(match[1]))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
