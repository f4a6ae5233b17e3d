"""Contract: blob links, manifests and their references, tags, referrers and upload sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cargohold.errors import BlobUploadUnknownError, NameUnknownError, TooManyRequestsError
from cargohold.metadata.schema import manifest_references, tags
from cargohold.metadata.sql import Metadata
from cargohold.models import (
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Repository,
    RepositoryChanges,
    Upload,
    UploadLimits,
    Visibility,
)

IMAGE = "library/nginx"
LAYER = Digest.of(b"layer")
CONFIG = Digest.of(b"config")
MANIFEST = Digest.of(b"manifest")
OTHER = Digest.of(b"other manifest")


def record(
    digest: Digest,
    media_type: str = MediaType.OCI_MANIFEST,
    *,
    artifact_type: str | None = None,
    subject: Digest | None = None,
    source: ContentSource = ContentSource.LOCAL,
    proxy_name: str | None = None,
) -> ManifestRecord:
    return ManifestRecord(
        digest,
        media_type,
        100,
        artifact_type=artifact_type,
        subject=subject,
        source=source,
        proxy_name=proxy_name,
    )


@pytest.fixture
async def repo(metadata: Metadata) -> int:
    created = await metadata.repositories.create_repository(Repository(name="hub"))
    assert created.id is not None
    return created.id


async def count_references(metadata: Metadata, repository_id: int, digest: Digest) -> int:
    query = select(func.count()).where(
        manifest_references.c.repository_id == repository_id,
        manifest_references.c.manifest_digest == str(digest),
    )
    async with metadata.database.engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


# --- blobs ---------------------------------------------------------------------------------------


async def test_link_blob_makes_it_readable_in_that_image_only(metadata: Metadata, repo: int) -> None:
    assert await metadata.content.linked_blob_size(repo, IMAGE, LAYER) is None
    assert not await metadata.content.image_exists(repo, IMAGE)
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5_000_000_000, ContentSource.CACHED, "docker-hub")
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5_000_000_000)  # idempotent
    assert (
        await metadata.content.linked_blob_size(repo, IMAGE, LAYER) == 5_000_000_000
    )  # sizes beyond 32 bits
    assert await metadata.content.image_exists(repo, IMAGE)
    assert await metadata.content.linked_blob_size(repo, "library/redis", LAYER) is None
    assert await metadata.content.unlink_blob(repo, IMAGE, LAYER)
    assert not await metadata.content.unlink_blob(repo, IMAGE, LAYER)
    assert await metadata.content.linked_blob_size(repo, IMAGE, LAYER) is None
    assert not await metadata.content.image_exists(repo, IMAGE)


async def test_a_blob_is_readable_through_the_repositories_that_link_it_and_through_none_else_unless_public(
    metadata: Metadata,
) -> None:
    ids = {}
    for name, visibility in [
        ("vault", Visibility.PRIVATE),
        ("team", Visibility.PRIVATE),
        ("hub", Visibility.PUBLIC),
    ]:
        created = await metadata.repositories.create_repository(Repository(name=name, visibility=visibility))
        assert created.id is not None
        ids[name] = created.id
    await metadata.content.link_blob(ids["vault"], "team/secret", LAYER, 10)
    assert await metadata.content.blob_readable_through(ids["vault"], LAYER)
    assert not await metadata.content.blob_readable_through(ids["team"], LAYER)
    assert not await metadata.content.blob_readable_through(ids["hub"], LAYER)
    assert not await metadata.content.blob_readable_through(ids["vault"], CONFIG)

    await metadata.content.link_blob(
        ids["hub"], "library/base", LAYER, 10, ContentSource.CACHED, "docker-hub"
    )
    assert await metadata.content.blob_readable_through(ids["team"], LAYER), (
        "anyone may read it through hub now"
    )

    await metadata.repositories.change_repository("hub", RepositoryChanges(visibility=Visibility.PRIVATE))
    assert not await metadata.content.blob_readable_through(ids["team"], LAYER)


async def test_content_of_an_unknown_repository_is_a_domain_error(metadata: Metadata, repo: int) -> None:
    with pytest.raises(NameUnknownError):
        await metadata.content.link_blob(repo + 1000, IMAGE, LAYER, 5)
    with pytest.raises(NameUnknownError):
        await metadata.content.put_manifest(
            repo + 1000, IMAGE, record(MANIFEST), ManifestReferences(), tag="v1"
        )
    with pytest.raises(NameUnknownError):
        await metadata.content.create_upload(Upload(id="u", repository_id=repo + 1000, image=IMAGE))


# --- manifests and tags -------------------------------------------------------------------------


async def test_put_and_get_manifest_with_every_field(metadata: Metadata, repo: int) -> None:
    stored = ManifestRecord(
        MANIFEST,
        MediaType.OCI_MANIFEST,
        1234,
        artifact_type="application/vnd.example.sbom",
        subject=OTHER,
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "ünïcode": "✓"},
        source=ContentSource.CACHED,
        proxy_name="docker-hub",
    )
    await metadata.content.put_manifest(repo, IMAGE, stored, ManifestReferences(blobs=(CONFIG, LAYER)))
    got = await metadata.content.get_manifest(repo, IMAGE, MANIFEST)
    assert got is not None
    assert got.created_at is not None
    assert got.created_at.utcoffset() == timedelta(0)
    assert abs(got.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert got == replace(stored, created_at=got.created_at)
    assert await metadata.content.get_manifest(repo, IMAGE, OTHER) is None
    assert await metadata.content.get_manifest(repo, "library/redis", MANIFEST) is None
    assert await metadata.content.image_exists(repo, IMAGE)


async def test_put_manifest_is_idempotent_by_digest(metadata: Metadata, repo: int) -> None:
    first = ManifestRecord(MANIFEST, MediaType.OCI_MANIFEST, 100, annotations={"a": "1"})
    await metadata.content.put_manifest(
        repo, IMAGE, first, ManifestReferences(blobs=(CONFIG, LAYER)), tag="v1"
    )
    stored = await metadata.content.get_manifest(repo, IMAGE, MANIFEST)
    # Re-putting the digest changes nothing of the manifest, only points the new tag at it.
    again = ManifestRecord(MANIFEST, MediaType.DOCKER_MANIFEST, 999, source=ContentSource.CACHED)
    await metadata.content.put_manifest(
        repo, IMAGE, again, ManifestReferences(blobs=(Digest.of(b"else"),)), tag="v2"
    )
    assert await metadata.content.get_manifest(repo, IMAGE, MANIFEST) == stored
    assert await count_references(metadata, repo, MANIFEST) == 2
    assert (await metadata.content.list_tags(repo, IMAGE, None, None)).items == ["v1", "v2"]


async def test_references_are_recorded_once_each(metadata: Metadata, repo: int) -> None:
    await metadata.content.put_manifest(
        repo,
        IMAGE,
        record(MANIFEST, media_type=MediaType.OCI_INDEX),
        ManifestReferences(blobs=(LAYER, LAYER, CONFIG), manifests=(OTHER, OTHER, LAYER)),
    )
    assert await count_references(metadata, repo, MANIFEST) == 4


async def test_tag_moves_to_another_digest(metadata: Metadata, repo: int) -> None:
    await metadata.content.put_manifest(repo, IMAGE, record(MANIFEST), ManifestReferences(), tag="latest")
    first = await metadata.content.get_tag(repo, IMAGE, "latest")
    assert first is not None
    assert first.digest == MANIFEST
    assert first.source is ContentSource.LOCAL
    assert first.updated_at is not None
    assert first.updated_at.utcoffset() == timedelta(0)
    moved = record(OTHER, source=ContentSource.CACHED, proxy_name="docker-hub")
    await metadata.content.put_manifest(repo, IMAGE, moved, ManifestReferences(), tag="latest")
    second = await metadata.content.get_tag(repo, IMAGE, "latest")
    assert second is not None
    assert (second.digest, second.source, second.proxy_name) == (OTHER, ContentSource.CACHED, "docker-hub")
    assert second.updated_at is not None
    assert second.updated_at >= first.updated_at
    # The old manifest stays, untagged.
    assert await metadata.content.get_manifest(repo, IMAGE, MANIFEST) is not None
    assert (await metadata.content.list_tags(repo, IMAGE, None, None)).items == ["latest"]


async def test_retagging_the_same_digest_refreshes_the_tag(metadata: Metadata, repo: int) -> None:
    await metadata.content.put_manifest(repo, IMAGE, record(MANIFEST), ManifestReferences(), tag="latest")
    first = await metadata.content.get_tag(repo, IMAGE, "latest")
    await metadata.content.put_manifest(repo, IMAGE, record(MANIFEST), ManifestReferences(), tag="latest")
    second = await metadata.content.get_tag(repo, IMAGE, "latest")
    assert first is not None
    assert second is not None
    assert first.updated_at
    assert second.updated_at
    assert second.digest == MANIFEST
    assert second.updated_at >= first.updated_at


async def test_tags_are_per_image_and_repository(metadata: Metadata, repo: int) -> None:
    other_repo = await metadata.repositories.create_repository(Repository(name="other"))
    assert other_repo.id is not None
    await metadata.content.put_manifest(repo, IMAGE, record(MANIFEST), ManifestReferences(), tag="v1")
    assert await metadata.content.get_tag(repo, "library/redis", "v1") is None
    assert await metadata.content.get_tag(other_repo.id, IMAGE, "v1") is None
    assert await metadata.content.get_tag(repo, IMAGE, "V1") is None  # tags are case-sensitive


async def test_delete_manifest_removes_its_tags_and_references(metadata: Metadata, repo: int) -> None:
    await metadata.content.put_manifest(
        repo, IMAGE, record(MANIFEST), ManifestReferences(blobs=(LAYER,)), tag="a"
    )
    await metadata.content.put_manifest(repo, IMAGE, record(MANIFEST), ManifestReferences(), tag="b")
    await metadata.content.put_manifest(
        repo, IMAGE, record(OTHER), ManifestReferences(blobs=(LAYER,)), tag="c"
    )
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5)
    assert await metadata.content.delete_manifest(repo, IMAGE, MANIFEST)
    assert not await metadata.content.delete_manifest(repo, IMAGE, MANIFEST)
    assert await metadata.content.get_manifest(repo, IMAGE, MANIFEST) is None
    assert await metadata.content.get_tag(repo, IMAGE, "a") is None
    assert (await metadata.content.list_tags(repo, IMAGE, None, None)).items == ["c"]
    assert await count_references(metadata, repo, MANIFEST) == 0
    assert await count_references(metadata, repo, OTHER) == 1
    assert await metadata.content.linked_blob_size(repo, IMAGE, LAYER) == 5  # blobs are gc's business
    async with metadata.database.engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(tags)) == 1


async def test_delete_tag_keeps_the_manifest(metadata: Metadata, repo: int) -> None:
    await metadata.content.put_manifest(repo, IMAGE, record(MANIFEST), ManifestReferences(), tag="v1")
    assert await metadata.content.delete_tag(repo, IMAGE, "v1")
    assert not await metadata.content.delete_tag(repo, IMAGE, "v1")
    assert await metadata.content.get_tag(repo, IMAGE, "v1") is None
    assert await metadata.content.get_manifest(repo, IMAGE, MANIFEST) is not None
    assert await metadata.content.image_exists(repo, IMAGE)


# --- referrers ------------------------------------------------------------------------------------


async def test_referrers_by_subject_and_artifact_type(metadata: Metadata, repo: int) -> None:
    sbom = record(Digest.of(b"sbom"), artifact_type="application/spdx+json", subject=MANIFEST)
    signature = record(Digest.of(b"sig"), artifact_type="application/vnd.dev.cosign", subject=MANIFEST)
    unrelated = record(Digest.of(b"unrelated"), artifact_type="application/spdx+json", subject=OTHER)
    for manifest in (record(MANIFEST), sbom, signature, unrelated):
        await metadata.content.put_manifest(repo, IMAGE, manifest, ManifestReferences())
    await metadata.content.put_manifest(repo, "library/redis", sbom, ManifestReferences())

    everything = await metadata.content.list_referrers(repo, IMAGE, MANIFEST)
    assert sorted(str(m.digest) for m in everything) == sorted(str(m.digest) for m in (sbom, signature))
    assert all(m.subject == MANIFEST for m in everything)
    sboms = await metadata.content.list_referrers(repo, IMAGE, MANIFEST, "application/spdx+json")
    assert [m.digest for m in sboms] == [sbom.digest]
    assert await metadata.content.list_referrers(repo, IMAGE, MANIFEST, "application/none") == []
    assert await metadata.content.list_referrers(repo, IMAGE, LAYER) == []
    await metadata.content.delete_manifest(repo, IMAGE, sbom.digest)
    assert [m.digest for m in await metadata.content.list_referrers(repo, IMAGE, MANIFEST)] == [
        signature.digest
    ]


# --- uploads --------------------------------------------------------------------------------------


async def test_upload_sessions(metadata: Metadata, repo: int) -> None:
    assert await metadata.content.get_upload("u1") is None
    await metadata.content.create_upload(Upload(id="u1", repository_id=repo, image=IMAGE, owner="alice"))
    got = await metadata.content.get_upload("u1")
    assert got is not None
    assert (got.id, got.repository_id, got.image, got.offset, got.owner) == ("u1", repo, IMAGE, 0, "alice")
    assert got.created_at is not None
    assert got.created_at.utcoffset() == timedelta(0)
    await metadata.content.set_upload_offset("u1", 6_000_000_000)
    assert (await metadata.content.get_upload("u1") or got).offset == 6_000_000_000
    await metadata.content.delete_upload("u1")
    assert await metadata.content.get_upload("u1") is None
    await metadata.content.delete_upload("u1")  # deleting twice is harmless


async def test_upload_limits_count_live_sessions_of_the_owner_and_the_repository(
    metadata: Metadata, repo: int
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    limits = UploadLimits(active_since=now - timedelta(hours=1), per_owner=2, per_repository=3)
    await metadata.content.create_upload(Upload("idle", repo, IMAGE, created_at=old, owner="alice"), limits)
    for name in ("a1", "a2"):
        await metadata.content.create_upload(Upload(name, repo, IMAGE, owner="alice"), limits)
    with pytest.raises(TooManyRequestsError, match="limit per user"):
        await metadata.content.create_upload(Upload("a3", repo, IMAGE, owner="alice"), limits)
    await metadata.content.create_upload(Upload("b1", repo, IMAGE, owner="bob"), limits)
    with pytest.raises(TooManyRequestsError, match="this repository"):
        await metadata.content.create_upload(Upload("b2", repo, IMAGE, owner="bob"), limits)
    assert await metadata.content.get_upload("a3") is None
    # a byte received makes an idle session live again: now it counts
    await metadata.content.set_upload_offset("idle", 10)
    touched = await metadata.content.get_upload("idle")
    assert touched is not None
    assert touched.updated_at is not None
    assert touched.updated_at >= now - timedelta(seconds=5)
    await metadata.content.delete_upload("a1")
    await metadata.content.delete_upload("b1")
    with pytest.raises(TooManyRequestsError, match="limit per user"):
        await metadata.content.create_upload(Upload("a4", repo, IMAGE, owner="alice"), limits)


async def test_upload_keeps_a_given_creation_time(metadata: Metadata, repo: int) -> None:
    created = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    await metadata.content.create_upload(Upload(id="u2", repository_id=repo, image=IMAGE, created_at=created))
    assert (await metadata.content.get_upload("u2") or Upload("x", 0, "x")).created_at == created


async def test_offset_of_an_unknown_upload_is_a_domain_error(metadata: Metadata) -> None:
    with pytest.raises(BlobUploadUnknownError):
        await metadata.content.set_upload_offset("missing", 10)


async def test_manifest_referencing_names_the_cached_manifest_that_vouches_for_a_blob(
    metadata: Metadata, repo: int
) -> None:
    assert await metadata.content.manifest_referencing(repo, IMAGE, LAYER) is None
    await metadata.content.put_manifest(
        repo, IMAGE, record(MANIFEST), ManifestReferences(blobs=(CONFIG, LAYER))
    )
    await metadata.content.put_manifest(
        repo,
        IMAGE,
        record(OTHER, source=ContentSource.CACHED, proxy_name="docker-hub"),
        ManifestReferences(blobs=(LAYER,)),
    )
    found = await metadata.content.manifest_referencing(repo, IMAGE, LAYER)
    assert found is not None
    assert (found.digest, found.proxy_name) == (OTHER, "docker-hub")
    local_only = await metadata.content.manifest_referencing(repo, IMAGE, CONFIG)
    assert local_only is not None
    assert local_only.digest == MANIFEST
    assert await metadata.content.manifest_referencing(repo, "other/image", LAYER) is None


async def test_blob_link_says_where_a_blob_came_from(metadata: Metadata, repo: int) -> None:
    assert await metadata.content.get_blob_link(repo, IMAGE, LAYER) is None
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5, ContentSource.CACHED, "docker-hub")
    await metadata.content.link_blob(repo, IMAGE, CONFIG, 6)
    cached = await metadata.content.get_blob_link(repo, IMAGE, LAYER)
    local = await metadata.content.get_blob_link(repo, IMAGE, CONFIG)
    assert cached is not None
    assert (cached.size, cached.source, cached.proxy_name) == (5, ContentSource.CACHED, "docker-hub")
    assert local is not None
    assert (local.size, local.source, local.proxy_name) == (6, ContentSource.LOCAL, None)
