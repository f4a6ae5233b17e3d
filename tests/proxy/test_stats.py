"""Statistics a user reads for a repository: requests, cache hits and misses, bytes from the cache and
from upstream, stale answers, and per proxy what it delivered, what it did not have, how it failed, and
whether it is in backoff right now."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from cargohold.errors import FailureKind, NameUnknownError
from cargohold.metadata.sql import Metadata
from cargohold.models import (
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Proxy,
    ProxyChanges,
    Repository,
)
from cargohold.proxy.health import HealthBook
from cargohold.proxy.stats import ProxyStats, RepositoryStats, StatsReader, StatsRecorder


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def hub(metadata: Metadata) -> int:
    created = await metadata.repositories.create_repository(
        Repository(name="hub"),
        [Proxy("mirror", "https://mirror.example.com"), Proxy("docker-hub", "https://registry-1.docker.io")],
    )
    assert created.id is not None
    return created.id


async def test_counts_reach_the_reader_after_a_flush(metadata: Metadata, hub: int) -> None:
    clock = Clock()
    health = HealthBook(base_backoff=5.0, max_backoff=60.0, clock=clock)
    recorder = StatsRecorder(metadata.stats)
    reader = StatsReader(metadata.repositories, metadata.stats, health)

    recorder.request(hub, hit=True, bytes_from_cache=700)
    recorder.request(hub, hit=True, bytes_from_cache=300)
    recorder.request(hub, hit=False)
    recorder.not_found(hub, "mirror")
    recorder.failure(hub, "mirror", FailureKind.TIMEOUT)
    recorder.failure(hub, "mirror", "tls")
    recorder.fetched(hub, "docker-hub", 5_000_000_000)
    recorder.stale(hub)
    health.failed((hub, "mirror"), FailureKind.TLS, "proxy mirror: TLS certificate rejected: expired")

    before = await reader.repository("hub")
    assert (before.requests, before.proxies[0].requests) == (0, 0), "nothing is written before a flush"
    assert recorder.pending > 0
    await recorder.flush()
    assert recorder.pending == 0

    stats = await reader.repository("hub")
    assert stats == RepositoryStats(
        repository="hub",
        requests=3,
        cache_hits=2,
        cache_misses=1,
        bytes_served_from_cache=1000,
        bytes_fetched_upstream=5_000_000_000,
        stale_served=1,
        proxies=(
            ProxyStats(
                proxy="mirror",
                requests=3,
                hits=0,
                misses=1,
                bytes_fetched=0,
                failures={"timeout": 1, "tls": 1},
                healthy=False,
                backoff_seconds=5.0,
                last_failure="proxy mirror: TLS certificate rejected: expired",
            ),
            ProxyStats(
                proxy="docker-hub",
                requests=1,
                hits=1,
                misses=0,
                bytes_fetched=5_000_000_000,
                failures={},
                healthy=True,
                backoff_seconds=0.0,
                last_failure=None,
            ),
        ),
    )
    clock.now += 2
    assert (await reader.repository("hub")).proxies[0].backoff_seconds == 3.0
    health.succeeded((hub, "mirror"))
    assert (await reader.repository("hub")).proxies[0].healthy


async def test_flushes_add_up_and_an_empty_flush_writes_nothing(metadata: Metadata, hub: int) -> None:
    recorder = StatsRecorder(metadata.stats)
    for _ in range(3):
        recorder.request(hub, hit=False)
        await recorder.flush()
    await recorder.flush()
    assert await metadata.stats.counters(hub) == {("", "requests"): 3, ("", "cache_misses"): 3}


async def test_a_failed_flush_keeps_the_deltas_for_the_next(metadata: Metadata, hub: int) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.fail = True

        async def add_to_counters(self, deltas: Mapping[tuple[int, str, str], int]) -> None:
            if self.fail:
                raise OSError("database went away")
            await metadata.stats.add_to_counters(deltas)

    flaky = Flaky()
    recorder = StatsRecorder(flaky)  # type: ignore[arg-type]
    recorder.request(hub, hit=True, bytes_from_cache=10)
    with pytest.raises(OSError, match="went away"):
        await recorder.flush()
    recorder.request(hub, hit=True, bytes_from_cache=5)
    flaky.fail = False
    await recorder.flush()
    assert await metadata.stats.counters(hub) == {
        ("", "requests"): 2,
        ("", "cache_hits"): 2,
        ("", "bytes_served_from_cache"): 15,
    }


async def test_proxies_follow_the_current_list(metadata: Metadata, hub: int) -> None:
    recorder = StatsRecorder(metadata.stats)
    reader = StatsReader(metadata.repositories, metadata.stats, HealthBook())
    recorder.fetched(hub, "mirror", 10)
    await recorder.flush()
    await metadata.repositories.move_proxy("hub", "docker-hub", 1)
    assert [p.proxy for p in (await reader.repository("hub")).proxies] == ["docker-hub", "mirror"]
    await metadata.repositories.update_proxy("hub", "mirror", ProxyChanges(name="renamed"))
    renamed = (await reader.repository("hub")).proxies[1]
    assert (renamed.proxy, renamed.bytes_fetched) == ("renamed", 10)
    with pytest.raises(NameUnknownError):
        await reader.repository("ghost")


async def test_pulls_are_batched_into_last_pulled_at(metadata: Metadata, hub: int) -> None:
    digest = Digest.of(b"{}")
    await metadata.content.put_manifest(
        hub, "app", ManifestRecord(digest, MediaType.OCI_MANIFEST, 2), ManifestReferences()
    )
    recorder = StatsRecorder(metadata.stats)
    early = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    recorder.pulled(hub, "app", digest, early + timedelta(minutes=5))
    recorder.pulled(hub, "app", digest, early)
    recorder.pulled(hub, "gone", digest, early)  # a manifest deleted meanwhile is skipped
    record = await metadata.content.get_manifest(hub, "app", digest)
    assert record is not None
    assert record.last_pulled_at is None, "nothing is written before a flush"
    await recorder.flush()
    record = await metadata.content.get_manifest(hub, "app", digest)
    assert record is not None
    assert record.last_pulled_at == early + timedelta(minutes=5)
    assert recorder.pending == 0
    recorder.pulled(hub, "app", digest)
    await recorder.flush()
    record = await metadata.content.get_manifest(hub, "app", digest)
    assert record is not None
    assert record.last_pulled_at is not None
    assert record.last_pulled_at > early + timedelta(days=1)
