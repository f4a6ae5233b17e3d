"""The evictor on a real metadata store (SQLite and PostgreSQL), with an injected clock: least recently pulled
versions go first until the repository is under its low-water mark, pinned versions and pushed content stay,
``evict_unused_after_days`` removes what was not pulled for that long (and nothing younger), the store's
``max_bytes`` evicts across repositories, one pass runs at a time, and evictions are counted."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cargohold.metadata.sql import Metadata
from cargohold.models import ContentSource, Repository
from cargohold.registry.eviction import EvictionPolicy, Evictor
from cargohold.registry.gc import try_flock
from tests.contract.conftest import Backend
from tests.contract.test_metadata_contract_inventory import d, put

CACHED = ContentSource.CACHED
MiB = 1 << 20
START = datetime(2026, 6, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def metadata(backend: Backend) -> AsyncIterator[Metadata]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


def evictor(metadata: Metadata, tmp_path: Path, clock: Clock, **policy: float) -> Evictor:
    return Evictor(
        metadata.repositories, metadata.storage, metadata.inventory, metadata.stats,
        lock_path=tmp_path / "evict.lock", policy=EvictionPolicy(**policy), now=clock,  # type: ignore[arg-type]
    )  # fmt: skip


async def version(metadata: Metadata, repo: int, image: str, size: int, pulled: datetime) -> None:
    """A cached version ``image:1`` with one layer of ``size`` bytes, last pulled at ``pulled``."""
    await metadata.content.link_blob(repo, image, d(f"{image}-layer"), size, CACHED, "up")
    await put(
        metadata, repo, image, f"{image}-m", tag="1", blobs=(f"{image}-layer",), source=CACHED, proxy="up"
    )
    await metadata.stats.record_pulls([(repo, image, d(f"{image}-m"), pulled)])


async def images(metadata: Metadata, repo: int) -> list[str]:
    return [content.image for content in await metadata.inventory.image_contents(repo)]


async def test_least_recently_pulled_go_first_until_under_the_low_water_mark_and_pins_stay(
    metadata: Metadata, tmp_path: Path
) -> None:
    repo = await metadata.repositories.create_repository(
        Repository(name="hub", max_cached_bytes=100 * MiB, pins=("pinned/*",))
    )
    assert repo.id is not None
    await metadata.content.link_blob(repo.id, "pushed", d("big-local"), 500 * MiB)
    await put(metadata, repo.id, "pushed", "p", tag="1", blobs=("big-local",))  # local: never evicted
    await version(metadata, repo.id, "pinned/base", 30 * MiB, START - timedelta(days=9))  # oldest, pinned
    for age, name in enumerate(["e", "d", "c", "b", "a"]):  # a is the oldest pull
        await version(metadata, repo.id, name, 20 * MiB, START - timedelta(hours=age))
    # cached: 30 + 5 * 20 = 130 MiB (+ manifests) over 100; low water 95 MiB: a and b go (90 MiB left)

    report = await evictor(metadata, tmp_path, Clock(), low_water=0.95).run()

    assert report is not None
    assert [item.image for item in report.evicted] == ["a", "b"]
    assert {item.reason for item in report.evicted} == {"quota"}
    assert await images(metadata, repo.id) == ["c", "d", "e", "pinned/base", "pushed"]
    usage = (await metadata.storage.storage_usage()).repositories[repo.id]
    assert 90 * MiB < usage.cached_bytes <= 95 * MiB
    assert usage.local_bytes >= 500 * MiB
    counters = await metadata.stats.counters(repo.id)
    assert counters[("", "evictions")] == 2
    assert counters[("", "evicted_bytes")] >= 40 * MiB


async def test_unused_versions_go_after_the_days_given_by_the_injected_clock(
    metadata: Metadata, tmp_path: Path
) -> None:
    repo = await metadata.repositories.create_repository(
        Repository(name="hub", evict_unused_after_days=30, pins=("keep:1",))
    )
    assert repo.id is not None
    await version(metadata, repo.id, "old", MiB, START - timedelta(days=20))
    await version(metadata, repo.id, "older", MiB, START - timedelta(days=25))
    await version(metadata, repo.id, "keep", MiB, START - timedelta(days=25))
    clock = Clock()
    run = evictor(metadata, tmp_path, clock)

    first = await run.run()
    assert first is not None
    assert first.evicted == []
    assert await images(metadata, repo.id) == ["keep", "old", "older"]

    clock.now = START + timedelta(days=6)  # 'older' was last pulled 31 days ago, 'old' 26
    second = await run.run()
    assert second is not None
    assert [(item.image, item.reason) for item in second.evicted] == [("older", "unused")]

    clock.now = START + timedelta(days=11)
    await run.run()
    assert await images(metadata, repo.id) == ["keep"]
    assert await run.run(ages=False) is not None  # a pass for limits only never evicts by age


async def test_the_store_limit_evicts_across_repositories_least_recently_pulled_first(
    metadata: Metadata, tmp_path: Path
) -> None:
    one = await metadata.repositories.create_repository(Repository(name="one"))
    two = await metadata.repositories.create_repository(Repository(name="two"))
    assert one.id is not None
    assert two.id is not None
    await version(metadata, one.id, "x", 40 * MiB, START - timedelta(hours=3))
    await version(metadata, two.id, "y", 40 * MiB, START - timedelta(hours=2))
    await version(metadata, one.id, "z", 40 * MiB, START - timedelta(hours=1))

    report = await evictor(metadata, tmp_path, Clock(), max_bytes=100 * MiB, low_water=0.9).run()

    assert report is not None
    assert [(item.repository, item.image, item.reason) for item in report.evicted] == [("one", "x", "store")]
    assert (await metadata.storage.storage_usage()).total_bytes <= 90 * MiB


async def test_one_pass_at_a_time(metadata: Metadata, tmp_path: Path) -> None:
    held = try_flock(tmp_path / "evict.lock")  # as another worker process running a pass holds it
    assert held is not None
    try:
        assert await evictor(metadata, tmp_path, Clock()).run() is None
    finally:
        os.close(held)
    assert await evictor(metadata, tmp_path, Clock()).run() is not None


async def test_a_version_whose_layers_were_pulled_lately_counts_as_recent(
    metadata: Metadata, tmp_path: Path
) -> None:
    repo = await metadata.repositories.create_repository(Repository(name="hub", max_cached_bytes=50 * MiB))
    assert repo.id is not None
    await version(metadata, repo.id, "kept-manifest", 30 * MiB, START - timedelta(days=5))
    await version(metadata, repo.id, "pulled-recently", 30 * MiB, START - timedelta(days=1))
    # a client that kept the manifest pulls the layer of the older version today
    await metadata.stats.record_blob_pulls([(repo.id, "kept-manifest", d("kept-manifest-layer"), START)])

    report = await evictor(metadata, tmp_path, Clock()).run()

    assert report is not None
    assert [item.image for item in report.evicted] == ["pulled-recently"]
