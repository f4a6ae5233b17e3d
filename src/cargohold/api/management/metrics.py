"""``GET /metrics``: the management statistics in the Prometheus text format.

Each scrape reads the same counters ``GET /api/v1/repositories/{repo}/stats`` answers (added up across
worker processes in the database) for every repository the caller may manage, and renders them with
prometheus-client through a one-shot collector: nothing is kept between scrapes, so the numbers cannot drift
from the API's. Health and backoff are the answering process's view, as in the API.

The scrape needs credentials, as the stats endpoints do, and shows what they would: every repository to a
global admin, the repositories a user manages to that user. The labels name private repositories and
their proxies, and the failure counters tell which upstream is down: that is not for anonymous callers.
Bytes held per repository and kind come from ``cargohold.registry.accounting``; the store's total and the
disk's free space are shown to a global admin only. A
Prometheus server scrapes with an access token (``authorization: {credentials: cgh_…}``, Bearer), or with
the dedicated scrape token of ``metrics.token`` (Bearer, compared in constant time; no user needed), or
without credentials at all when the operator set ``metrics.public: true``. Those two, and global admins,
also get the server-wide collectors the composition root adds (``MetricsConfig.collectors``: the HTTP
request metrics and the process's).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cargohold.api.management.access import may_manage, signed_in
from cargohold.api.management.errors import domain_error_response
from cargohold.api.management.operation import SERVICES_KEY
from cargohold.errors import CargoholdError, NameUnknownError
from cargohold.proxy.stats import RepositoryStats
from cargohold.registry.accounting import StoreStorage
from cargohold.registry.gc_ledger import GcLedger

METRICS_PATH: Final = "/metrics"


@dataclass(frozen=True)
class MetricsConfig:
    """Who may scrape without a user, and the server-wide collectors a full scrape adds."""

    public: bool = False
    token: str | None = None
    collectors: Sequence[Collector] = ()


METRICS_CONFIG_KEY: Final = web.AppKey("cargohold_metrics_config", MetricsConfig)
REPO: Final = ["repository"]
PROXY: Final = ["repository", "proxy"]


class _Snapshot(Collector):
    """Metric families of one scrape's statistics."""

    def __init__(
        self, stats: Sequence[RepositoryStats], storage: StoreStorage | None, global_view: bool
    ) -> None:
        self._stats = stats
        self._storage = storage
        self._global = global_view

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        repo_counters = {
            "requests": "Manifest and blob requests",
            "cache_hits": "Requests answered from local or cached content",
            "cache_misses": "Requests that had to ask a proxy",
            "bytes_served_from_cache": "Bytes served from the cache",
            "bytes_fetched_upstream": "Bytes fetched from proxies",
            "stale_served": "Stale cached tags served because every proxy failed",
            "evictions": "Cached image versions evicted",
            "evicted_bytes": "Bytes the evicted versions held in the repository",
            "uncached_pulls": "Blobs served straight through without caching (no room on the disk)",
            "uncached_bytes": "Bytes served straight through without caching",
        }
        for counter, documentation in repo_counters.items():
            family = CounterMetricFamily(f"cargohold_repository_{counter}", documentation, labels=REPO)
            for stats in self._stats:
                family.add_metric([stats.repository], getattr(stats, counter))
            yield family
        proxy_counters = {
            "requests": "Times the proxy was asked",
            "hits": "Times the proxy delivered",
            "misses": "Times the proxy did not have it",
            "bytes_fetched": "Bytes fetched from the proxy",
        }
        for counter, documentation in proxy_counters.items():
            family = CounterMetricFamily(f"cargohold_proxy_{counter}", documentation, labels=PROXY)
            for stats in self._stats:
                for proxy in stats.proxies:
                    family.add_metric([stats.repository, proxy.proxy], getattr(proxy, counter))
            yield family
        failures = CounterMetricFamily(
            "cargohold_proxy_failures", "Proxy failures by kind", labels=[*PROXY, "kind"]
        )
        healthy = GaugeMetricFamily(
            "cargohold_proxy_healthy", "1 unless the proxy is in backoff", labels=PROXY
        )
        backoff = GaugeMetricFamily(
            "cargohold_proxy_backoff_seconds", "Seconds until the proxy is asked again", labels=PROXY
        )
        for stats in self._stats:
            for proxy in stats.proxies:
                labels = [stats.repository, proxy.proxy]
                for kind, count in sorted(proxy.failures.items()):
                    failures.add_metric([*labels, kind], count)
                healthy.add_metric(labels, 1.0 if proxy.healthy else 0.0)
                backoff.add_metric(labels, proxy.backoff_seconds)
        yield failures
        yield healthy
        yield backoff
        yield from self._storage_families()

    def _storage_families(self) -> Iterator[GaugeMetricFamily]:
        if self._storage is None:
            return
        held = GaugeMetricFamily(
            "cargohold_repository_storage_bytes",
            "Bytes a repository holds by kind (local: pushed, cached: fetched); a shared blob counts once "
            "per repository",
            labels=[*REPO, "kind"],
        )
        shown = {stats.repository for stats in self._stats}
        for repository in self._storage.repositories:
            if repository.repository in shown:
                held.add_metric([repository.repository, "local"], repository.local_bytes)
                held.add_metric([repository.repository, "cached"], repository.cached_bytes)
        yield held
        if not self._global:
            return
        yield GaugeMetricFamily(
            "cargohold_store_bytes", "Bytes the store holds, each blob once", value=self._storage.total_bytes
        )
        if self._storage.disk_free_bytes is not None:
            yield GaugeMetricFamily(
                "cargohold_disk_free_bytes",
                "Free bytes on the data directory's filesystem",
                value=self._storage.disk_free_bytes,
            )


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    config = request.app.get(METRICS_CONFIG_KEY) or MetricsConfig()
    principal = None  # None: the whole server (public scraping or the scrape token)
    if not config.public and not _has_scrape_token(request, config.token):
        try:
            principal = await signed_in(request)
        except CargoholdError as error:  # 401 / 429 in the management API's error shape
            return domain_error_response(error)
    snapshot = []
    for repository in await services.repositories.list():
        if principal is not None and not may_manage(principal, repository.name, repository.visibility):
            continue
        try:
            snapshot.append(await services.stats.repository(repository.name))
        except NameUnknownError:  # deleted between the listing and the read
            continue
    storage = await services.storage.store() if services.storage is not None else None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot, storage, principal is None or principal.is_admin))
    if principal is None or (principal.is_admin and principal.token_scopes is None):
        for collector in config.collectors:
            registry.register(collector)
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _has_scrape_token(request: web.Request, token: str | None) -> bool:
    """The request carries ``Authorization: Bearer <token>`` with the configured scrape token."""
    if token is None:
        return False
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8", "surrogatepass"), token.encode("utf-8"))


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get(METRICS_PATH, metrics)


class GcMetrics(Collector):
    """What garbage collection on this node has done (``cargohold.registry.gc_ledger``), for every scrape
    that sees the server-wide collectors."""

    def __init__(self, ledger: GcLedger) -> None:
        self._ledger = ledger

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        totals = self._ledger.read()
        yield CounterMetricFamily("cargohold_gc_runs", "Garbage collections run", value=totals.runs)
        yield CounterMetricFamily(
            "cargohold_gc_freed_bytes", "Bytes garbage collection freed", value=totals.freed_bytes
        )
        removed = CounterMetricFamily(
            "cargohold_gc_removed", "Items garbage collection removed, by kind", labels=["kind"]
        )
        for kind in ("blob", "upload", "spool", "work"):
            removed.add_metric([kind], totals.removed.get(kind, 0))
        yield removed
        yield GaugeMetricFamily(
            "cargohold_gc_last_duration_seconds",
            "How long the last garbage collection took",
            value=totals.last_duration_seconds,
        )
        yield GaugeMetricFamily(
            "cargohold_gc_last_run_timestamp_seconds",
            "When the last garbage collection ended (seconds since the epoch; 0: never)",
            value=totals.last_run_timestamp,
        )
