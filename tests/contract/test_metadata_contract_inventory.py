"""Contract: the inventory reads (every image's manifests, references, tags and links in one go), deleting
a whole image, purging cached content without breaking local content, and recording pulls in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cargohold.metadata.sql import Metadata
from cargohold.models import (
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Repository,
)

CACHED = ContentSource.CACHED
LOCAL = ContentSource.LOCAL


def d(name: str) -> Digest:
    return Digest.of(name.encode())


@pytest.fixture
async def repo(metadata: Metadata) -> int:
    created = await metadata.repositories.create_repository(Repository(name="hub"))
    assert created.id is not None
    return created.id


async def put(
    metadata: Metadata,
    repo: int,
    image: str,
    name: str,
    *,
    tag: str | None = None,
    blobs: tuple[str, ...] = (),
    children: tuple[str, ...] = (),
    source: ContentSource = LOCAL,
    proxy: str | None = None,
    media_type: str = MediaType.OCI_MANIFEST,
) -> Digest:
    """A manifest ``name`` referencing ``blobs`` (linked with size len(blob)*10) and ``children``."""
    for blob in blobs:
        await metadata.content.link_blob(repo, image, d(blob), len(blob) * 10, source, proxy)
    await metadata.content.put_manifest(
        repo,
        image,
        ManifestRecord(d(name), media_type, len(name), source=source, proxy_name=proxy),
        ManifestReferences(blobs=tuple(d(b) for b in blobs), manifests=tuple(d(c) for c in children)),
        tag=tag,
    )
    return d(name)


async def test_image_contents_reads_everything_of_each_image(metadata: Metadata, repo: int) -> None:
    await put(
        metadata, repo, "library/nginx", "m1", tag="1.0", blobs=("cfg", "layer"), source=CACHED, proxy="hub"
    )
    await put(metadata, repo, "library/nginx", "m2", tag="latest", blobs=("cfg",))
    await put(metadata, repo, "app", "m3")
    await metadata.content.link_blob(repo, "links-only", d("x"), 1)
    other = await metadata.repositories.create_repository(Repository(name="other"))
    assert other.id is not None
    await put(metadata, other.id, "elsewhere", "m9")

    contents = await metadata.inventory.image_contents(repo)
    assert [c.image for c in contents] == ["app", "library/nginx"]
    nginx = contents[1]
    assert {m.digest for m in nginx.manifests} == {d("m1"), d("m2")}
    references = dict(nginx.references)
    assert set(references[d("m1")].blobs) == {d("cfg"), d("layer")}
    assert references[d("m2")] == ManifestReferences(blobs=(d("cfg"),))
    assert d("m1") not in dict(contents[0].references)
    assert [(t.tag, t.digest, t.source, t.proxy_name) for t in nginx.tags] == [
        ("1.0", d("m1"), CACHED, "hub"),
        ("latest", d("m2"), LOCAL, None),
    ]
    assert {(b.digest, b.size, b.source) for b in nginx.blobs} == {
        (d("cfg"), 30, CACHED),
        (d("layer"), 50, CACHED),
    }
    assert [c.image for c in await metadata.inventory.image_contents(repo, "app")] == ["app"]
    assert await metadata.inventory.image_contents(repo, "links-only") == []
    assert await metadata.inventory.image_contents(repo, "ghost") == []


async def test_delete_image_removes_its_manifests_tags_and_links(metadata: Metadata, repo: int) -> None:
    await put(metadata, repo, "app", "m1", tag="v1", blobs=("layer",))
    await put(metadata, repo, "keep", "m1", tag="v1", blobs=("layer",))
    assert await metadata.inventory.delete_image(repo, "app")
    assert not await metadata.content.image_exists(repo, "app")
    assert await metadata.content.get_tag(repo, "app", "v1") is None
    assert await metadata.content.linked_blob_size(repo, "app", d("layer")) is None
    assert await metadata.content.get_tag(repo, "keep", "v1") is not None
    assert not await metadata.inventory.delete_image(repo, "app")
    await metadata.content.link_blob(repo, "links-only", d("x"), 1)
    assert await metadata.inventory.delete_image(repo, "links-only")
    assert not await metadata.content.image_exists(repo, "links-only")


async def test_purge_removes_cached_content_and_keeps_local(metadata: Metadata, repo: int) -> None:
    await put(metadata, repo, "cached", "c1", tag="1", blobs=("cl1", "shared"), source=CACHED, proxy="a")
    await put(metadata, repo, "cached", "c2", tag="2", blobs=("cl2",), source=CACHED, proxy="b")
    await put(metadata, repo, "local", "l1", tag="v1", blobs=("ll1",))

    assert await metadata.inventory.purge_cached(repo, "a") == (1, 1, 2)
    assert await metadata.content.get_manifest(repo, "cached", d("c1")) is None
    assert await metadata.content.get_manifest(repo, "cached", d("c2")) is not None
    assert await metadata.content.linked_blob_size(repo, "cached", d("cl2")) == 30

    assert await metadata.inventory.purge_cached(repo) == (1, 1, 1)
    assert not await metadata.content.image_exists(repo, "cached")
    assert await metadata.content.get_tag(repo, "local", "v1") is not None
    assert await metadata.content.linked_blob_size(repo, "local", d("ll1")) == 30
    assert await metadata.inventory.purge_cached(repo) == (0, 0, 0)


async def test_purge_never_breaks_what_local_content_needs(metadata: Metadata, repo: int) -> None:
    # A local manifest pushed over layers that were cached first: the links stay.
    await put(
        metadata,
        repo,
        "app",
        "cached-m",
        tag="cached",
        blobs=("base", "only-cached"),
        source=CACHED,
        proxy="a",
    )
    await put(metadata, repo, "app", "local-m", tag="mine", blobs=("base",))
    # A local tag pointing at a cached manifest keeps it.
    await put(metadata, repo, "app", "pinned", blobs=("pinned-layer",), source=CACHED, proxy="a")
    await metadata.content.put_manifest(
        repo, "app", ManifestRecord(d("pinned"), MediaType.OCI_MANIFEST, 6), ManifestReferences(), tag="pin"
    )
    # A local index whose children were cached keeps its children (and their layers).
    await put(metadata, repo, "multi", "child", blobs=("child-layer",), source=CACHED, proxy="a")
    await put(metadata, repo, "multi", "index", tag="v1", children=("child",), media_type=MediaType.OCI_INDEX)

    manifests, purged_tags, links = await metadata.inventory.purge_cached(repo, "a")
    assert (manifests, purged_tags) == (1, 1)
    assert links == 1  # only-cached
    assert await metadata.content.get_manifest(repo, "app", d("cached-m")) is None
    assert await metadata.content.get_tag(repo, "app", "cached") is None
    assert await metadata.content.linked_blob_size(repo, "app", d("base")) == 40
    assert await metadata.content.get_manifest(repo, "app", d("pinned")) is not None
    assert await metadata.content.linked_blob_size(repo, "app", d("pinned-layer")) is not None
    assert await metadata.content.get_manifest(repo, "multi", d("child")) is not None
    assert await metadata.content.linked_blob_size(repo, "multi", d("child-layer")) is not None


async def test_record_pulls_keeps_the_latest_time(metadata: Metadata, repo: int) -> None:
    first = await put(metadata, repo, "app", "m1", tag="v1")
    second = await put(metadata, repo, "app", "m2", tag="v2")
    assert (
        await metadata.content.get_manifest(repo, "app", first) or ManifestRecord(first, "", 0)
    ).last_pulled_at is None
    early = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    late = early + timedelta(hours=1)
    await metadata.stats.record_pulls(
        [
            (repo, "app", first, late),
            (repo, "app", first, early),
            (repo, "app", second, early),
            (repo, "app", d("unknown"), late),
            (repo + 1000, "app", first, late),
        ]
    )
    await metadata.stats.record_pulls([(repo, "app", second, early - timedelta(days=1))])  # older: ignored
    await metadata.stats.record_pulls([])
    pulled = await metadata.content.get_manifest(repo, "app", first)
    other = await metadata.content.get_manifest(repo, "app", second)
    assert pulled is not None
    assert other is not None
    assert pulled.last_pulled_at == late
    assert other.last_pulled_at == early
    await metadata.stats.record_pulls([(repo, "app", second, late + timedelta(seconds=1))])
    again = await metadata.content.get_manifest(repo, "app", second)
    assert again is not None
    assert again.last_pulled_at == late + timedelta(seconds=1)
