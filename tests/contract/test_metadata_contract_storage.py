"""Contract: storage accounting (bytes per repository, local and cached, each digest once per repository
and once in the store's total) and evicting one cached image version without touching local content, a
version pulled meanwhile, or what another version still needs; and the repository's cache policy columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.contract.conftest import Backend
from tests.contract.test_metadata_contract_inventory import d, put

from cargohold.metadata.sql import Metadata
from cargohold.models import ContentSource, MediaType, Repository, RepositoryChanges

CACHED = ContentSource.CACHED
LOCAL = ContentSource.LOCAL


@pytest.fixture
async def repo(metadata: Metadata) -> int:
    created = await metadata.repositories.create_repository(Repository(name="hub"))
    assert created.id is not None
    return created.id


async def test_usage_counts_each_digest_once_per_repository_and_once_in_total(
    metadata: Metadata, repo: int
) -> None:
    # 'layer' (50 bytes) is held by two cached images and one local image of hub: it counts as local once.
    await put(metadata, repo, "a", "ma", blobs=("cfg", "layer"), source=CACHED, proxy="up")  # 30 + 50 + 2
    await put(metadata, repo, "b", "mb", blobs=("layer",), source=CACHED, proxy="up")  # 2
    await put(metadata, repo, "c", "mc", blobs=("layer", "own"), source=LOCAL)  # 30 + 2
    other = await metadata.repositories.create_repository(Repository(name="other"))
    assert other.id is not None
    await put(metadata, other.id, "a", "ma", blobs=("cfg", "layer"), source=CACHED, proxy="up")
    empty = await metadata.repositories.create_repository(Repository(name="empty"))
    assert empty.id is not None

    usage = await metadata.storage.storage_usage()

    hub = usage.repositories[repo]
    assert (hub.local_bytes, hub.cached_bytes) == (50 + 30 + 2, 30 + 2 + 2)
    assert hub.total_bytes == 116
    theirs = usage.repositories[other.id]
    assert (theirs.local_bytes, theirs.cached_bytes) == (0, 82)
    assert empty.id not in usage.repositories
    assert usage.total_bytes == 30 + 50 + 30 + 2 + 2 + 2  # cfg, layer, own, ma, mb, mc: each once


async def test_usage_of_an_empty_store_is_zero(metadata: Metadata) -> None:
    usage = await metadata.storage.storage_usage()
    assert usage.repositories == {}
    assert usage.total_bytes == 0


async def test_evicting_a_version_removes_its_tags_manifest_and_only_its_own_links(
    metadata: Metadata, repo: int
) -> None:
    old = await put(
        metadata, repo, "app", "old", tag="1", blobs=("shared", "mine"), source=CACHED, proxy="up"
    )
    await put(metadata, repo, "app", "new", tag="2", blobs=("shared", "theirs"), source=CACHED, proxy="up")

    assert await metadata.storage.evict_version(repo, "app", old, None)

    assert await metadata.content.get_manifest(repo, "app", old) is None
    assert await metadata.content.get_tag(repo, "app", "1") is None
    assert await metadata.content.get_tag(repo, "app", "2") is not None
    assert await metadata.content.get_blob_link(repo, "app", d("mine")) is None
    assert await metadata.content.get_blob_link(repo, "app", d("shared")) is not None
    assert await metadata.content.get_blob_link(repo, "app", d("theirs")) is not None
    usage = (await metadata.storage.storage_usage()).repositories[repo]
    assert usage.cached_bytes == len("new") + 60 + 60


async def test_an_index_goes_with_its_children_but_a_child_another_index_needs_stays(
    metadata: Metadata, repo: int
) -> None:
    for child, layer in (("amd64", "l1"), ("arm64", "l2")):
        await put(metadata, repo, "multi", child, blobs=(layer,), source=CACHED, proxy="up")
    index = await put(
        metadata, repo, "multi", "index", tag="1", children=("amd64", "arm64"), source=CACHED, proxy="up",
        media_type=MediaType.OCI_INDEX,
    )  # fmt: skip
    await put(
        metadata, repo, "multi", "index2", tag="2", children=("arm64",), source=CACHED, proxy="up",
        media_type=MediaType.OCI_INDEX,
    )  # fmt: skip

    assert not await metadata.storage.evict_version(repo, "multi", d("amd64"), None)  # a child: refused
    assert await metadata.storage.evict_version(repo, "multi", index, None)

    assert await metadata.content.get_manifest(repo, "multi", d("amd64")) is None
    assert await metadata.content.get_blob_link(repo, "multi", d("l1")) is None
    assert await metadata.content.get_manifest(repo, "multi", d("arm64")) is not None
    assert await metadata.content.get_blob_link(repo, "multi", d("l2")) is not None


async def test_local_content_and_versions_pulled_meanwhile_are_never_evicted(
    metadata: Metadata, repo: int
) -> None:
    local = await put(metadata, repo, "app", "pushed", tag="1", blobs=("l",))
    cached = await put(metadata, repo, "app", "cached", blobs=("c",), source=CACHED, proxy="up")
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    await metadata.stats.record_pulls([(repo, "app", cached, seen + timedelta(minutes=1))])

    assert not await metadata.storage.evict_version(repo, "app", local, None)
    assert not await metadata.storage.evict_version(repo, "app", cached, seen)  # pulled after seen
    assert not await metadata.storage.evict_version(repo, "app", d("missing"), None)
    assert await metadata.content.get_manifest(repo, "app", cached) is not None
    assert await metadata.storage.evict_version(repo, "app", cached, seen + timedelta(minutes=1))
    assert await metadata.content.get_manifest(repo, "app", local) is not None
    assert await metadata.content.get_blob_link(repo, "app", d("l")) is not None


async def test_the_cache_policy_is_stored_and_changed(metadata: Metadata) -> None:
    created = await metadata.repositories.create_repository(
        Repository(name="quota", max_cached_bytes=100 << 20, evict_unused_after_days=30, pins=("a:*", "b"))
    )
    assert (created.max_cached_bytes, created.evict_unused_after_days, created.pins) == (
        100 << 20,
        30,
        ("a:*", "b"),
    )
    changed = await metadata.repositories.change_repository(
        "quota", RepositoryChanges(max_cached_bytes=1 << 40, pins=())
    )
    assert (changed.max_cached_bytes, changed.evict_unused_after_days, changed.pins) == (1 << 40, 30, ())
    plain = await metadata.repositories.create_repository(Repository(name="plain"))
    assert (plain.max_cached_bytes, plain.evict_unused_after_days, plain.pins) == (0, 0, ())


async def test_blob_pulls_keep_their_latest_time_and_show_in_the_image_contents(
    metadata: Metadata, repo: int
) -> None:
    await put(metadata, repo, "app", "m", tag="1", blobs=("layer",), source=CACHED, proxy="up")
    early = datetime(2026, 3, 1, tzinfo=UTC)
    await metadata.stats.record_blob_pulls(
        [(repo, "app", d("layer"), early), (repo, "app", d("layer"), early - timedelta(hours=1))]
    )
    await metadata.stats.record_blob_pulls([(repo, "app", d("layer"), early - timedelta(days=1))])  # older
    unknown = [(repo, "app", d("not-linked"), early), (repo, "gone", d("x"), early)]
    await metadata.stats.record_blob_pulls(unknown)  # ignored
    await metadata.stats.record_blob_pulls([])

    (content,) = await metadata.inventory.image_contents(repo)
    (link,) = content.blobs
    assert link.last_pulled_at == early


async def test_one_evictor_at_a_time_between_servers_and_apart_from_the_collector(
    metadata: Metadata, backend: Backend
) -> None:
    other = await backend.open()
    try:
        async with metadata.storage.eviction_lock() as first:
            assert first is True
            async with other.storage.eviction_lock() as second:
                assert second is (backend.name == "sqlite")  # SQLite: one node, the file lock decides
            async with other.collector.collector_lock() as collector:
                assert collector is True  # evicting does not hold up garbage collection
        async with other.storage.eviction_lock() as after:
            assert after is True
    finally:
        await other.close()
