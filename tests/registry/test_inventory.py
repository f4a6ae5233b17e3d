"""``Inventory``: the images and tags a user sees in a repository (sizes, local or cached, from which
proxy, when fetched and last pulled), and deleting tags, images and cached content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cargohold.errors import ManifestUnknownError, NameUnknownError
from cargohold.metadata.sql import Metadata
from cargohold.models import (
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Repository,
)
from cargohold.registry.inventory import Inventory, PurgeResult

CACHED = ContentSource.CACHED
LOCAL = ContentSource.LOCAL
CONFIG = Digest.of(b"config")
LAYER = Digest.of(b"layer")
OTHER_LAYER = Digest.of(b"other layer")


@pytest.fixture
async def repo(metadata: Metadata) -> int:
    created = await metadata.repositories.create_repository(Repository(name="hub"))
    assert created.id is not None
    return created.id


@pytest.fixture
def inventory(metadata: Metadata) -> Inventory:
    return Inventory(metadata.repositories, metadata.content, metadata.inventory)


async def image_manifest(
    metadata: Metadata,
    repo: int,
    image: str,
    digest: Digest,
    size: int,
    blobs: dict[Digest, int],
    *,
    tag: str | None = None,
    source: ContentSource = LOCAL,
    proxy: str | None = None,
) -> None:
    for blob, blob_size in blobs.items():
        await metadata.content.link_blob(repo, image, blob, blob_size, source, proxy)
    await metadata.content.put_manifest(
        repo,
        image,
        ManifestRecord(digest, MediaType.OCI_MANIFEST, size, source=source, proxy_name=proxy),
        ManifestReferences(blobs=tuple(blobs)),
        tag=tag,
    )


async def test_tags_show_size_source_and_times(metadata: Metadata, repo: int, inventory: Inventory) -> None:
    cached = Digest.of(b"cached manifest")
    local = Digest.of(b"local manifest")
    before = datetime.now(UTC) - timedelta(seconds=5)
    await image_manifest(
        metadata, repo, "library/nginx", cached, 500, {CONFIG: 1_000, LAYER: 5_000_000_000}, tag="1.27",
        source=CACHED, proxy="docker-hub",
    )  # fmt: skip
    await image_manifest(metadata, repo, "library/nginx", local, 400, {CONFIG: 1_000}, tag="mine")
    pulled = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    await metadata.stats.record_pulls([(repo, "library/nginx", cached, pulled)])

    (image,) = await inventory.images("hub")
    assert image == await inventory.image("hub", "library/nginx")
    assert image.name == "library/nginx"
    assert image.manifests == 2
    assert image.size == 500 + 400 + 1_000 + 5_000_000_000  # the shared config counted once
    assert image.source is None  # mixed
    by_tag = {tag.tag: tag for tag in image.tags}
    assert list(by_tag) == ["1.27", "mine"]
    cached_tag = by_tag["1.27"]
    assert (cached_tag.digest, cached_tag.media_type, cached_tag.size) == (
        str(cached),
        MediaType.OCI_MANIFEST,
        500 + 1_000 + 5_000_000_000,
    )
    assert (cached_tag.source, cached_tag.proxy_name, cached_tag.last_pulled_at) == (
        CACHED,
        "docker-hub",
        pulled,
    )
    assert cached_tag.fetched_at is not None
    assert cached_tag.fetched_at >= before
    local_tag = by_tag["mine"]
    assert (local_tag.size, local_tag.source, local_tag.proxy_name) == (1_400, LOCAL, None)
    assert (local_tag.fetched_at, local_tag.last_pulled_at) == (None, None)


async def test_an_index_counts_its_platforms(metadata: Metadata, repo: int, inventory: Inventory) -> None:
    amd64 = Digest.of(b"amd64")
    arm64 = Digest.of(b"arm64")
    index = Digest.of(b"index")
    await image_manifest(metadata, repo, "app", amd64, 100, {CONFIG: 10, LAYER: 1000})
    await image_manifest(metadata, repo, "app", arm64, 100, {CONFIG: 10, OTHER_LAYER: 2000})
    platforms = ManifestReferences(manifests=(amd64, arm64))
    await metadata.content.put_manifest(
        repo, "app", ManifestRecord(index, MediaType.OCI_INDEX, 50), platforms, tag="v1"
    )
    image = await inventory.image("hub", "app")
    (tag,) = image.tags
    assert (tag.media_type, tag.size) == (MediaType.OCI_INDEX, 50 + 100 + 100 + 10 + 1000 + 2000)
    assert (image.manifests, image.source) == (3, LOCAL)


async def test_unknown_names(metadata: Metadata, repo: int, inventory: Inventory) -> None:
    with pytest.raises(NameUnknownError):
        await inventory.images("ghost")
    with pytest.raises(NameUnknownError):
        await inventory.image("hub", "nothing/here")
    with pytest.raises(NameUnknownError):
        await inventory.image("hub", "Not A Name")
    assert await inventory.images("hub") == []


async def test_delete_a_tag(metadata: Metadata, repo: int, inventory: Inventory) -> None:
    digest = Digest.of(b"m")
    await image_manifest(metadata, repo, "app", digest, 10, {LAYER: 5}, tag="v1")
    await metadata.content.put_manifest(
        repo, "app", ManifestRecord(digest, MediaType.OCI_MANIFEST, 10), ManifestReferences(), tag="v2"
    )
    await inventory.delete_tag("hub", "app", "v1")
    image = await inventory.image("hub", "app")
    assert [t.tag for t in image.tags] == ["v2"]
    assert image.manifests == 1  # the manifest stays, reachable by digest
    for tag in ("v1", "bad tag!"):
        with pytest.raises(ManifestUnknownError):
            await inventory.delete_tag("hub", "app", tag)
    with pytest.raises(NameUnknownError):
        await inventory.delete_tag("ghost", "app", "v2")


async def test_delete_an_image(metadata: Metadata, repo: int, inventory: Inventory) -> None:
    await image_manifest(metadata, repo, "app", Digest.of(b"m"), 10, {LAYER: 5}, tag="v1")
    await image_manifest(metadata, repo, "other", Digest.of(b"m"), 10, {LAYER: 5}, tag="v1")
    await inventory.delete_image("hub", "app")
    assert [i.name for i in await inventory.images("hub")] == ["other"]
    assert not await metadata.content.image_exists(repo, "app")
    with pytest.raises(NameUnknownError):
        await inventory.delete_image("hub", "app")


async def test_delete_is_allowed_in_a_config_managed_repository(
    metadata: Metadata, inventory: Inventory
) -> None:
    await metadata.repositories.sync_declared_repositories([(Repository(name="managed"), [])])
    managed = await metadata.repositories.get_repository("managed")
    assert managed is not None
    assert managed.id is not None
    await image_manifest(metadata, managed.id, "app", Digest.of(b"m"), 10, {}, tag="v1")
    await inventory.delete_tag("managed", "app", "v1")
    await inventory.delete_image("managed", "app")
    assert await inventory.images("managed") == []


async def test_purge_one_proxy_then_all(metadata: Metadata, repo: int, inventory: Inventory) -> None:
    await image_manifest(
        metadata, repo, "a", Digest.of(b"a"), 10, {LAYER: 5}, tag="1", source=CACHED, proxy="first"
    )
    await image_manifest(
        metadata, repo, "b", Digest.of(b"b"), 10, {OTHER_LAYER: 5}, tag="1", source=CACHED, proxy="second"
    )
    await image_manifest(metadata, repo, "mine", Digest.of(b"mine"), 10, {CONFIG: 5}, tag="1")

    assert await inventory.purge_cached("hub", "first") == PurgeResult(manifests=1, tags=1, blobs=1)
    assert [i.name for i in await inventory.images("hub")] == ["b", "mine"]
    assert await inventory.purge_cached("hub", "gone-proxy") == PurgeResult(0, 0, 0)
    assert await inventory.purge_cached("hub") == PurgeResult(manifests=1, tags=1, blobs=1)
    (mine,) = await inventory.images("hub")
    assert (mine.name, mine.source, mine.size) == ("mine", LOCAL, 15)
    with pytest.raises(NameUnknownError):
        await inventory.purge_cached("ghost")
