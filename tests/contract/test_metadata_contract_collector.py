"""Contract: what garbage collection asks of the metadata store, on SQLite and PostgreSQL: which digests are
referenced (blob links, manifests, manifest references), the guarded removal of an unreferenced blob that a
concurrent link waits for, the upload sessions, and the one-collector lock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tests.contract.conftest import Backend

from cargohold.metadata.sql import Metadata
from cargohold.models import (
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    MediaType,
    Repository,
    Upload,
)

IMAGE = "library/nginx"
LAYER = Digest.of(b"layer")
CONFIG = Digest.of(b"config")
MANIFEST = Digest.of(b"manifest")
CHILD = Digest.of(b"child manifest")
LOOSE = Digest.of(b"nothing names me")


@pytest.fixture
async def repo(metadata: Metadata) -> int:
    created = await metadata.repositories.create_repository(Repository(name="hub"))
    assert created.id is not None
    return created.id


async def test_referenced_names_links_manifests_and_their_children(metadata: Metadata, repo: int) -> None:
    assert await metadata.collector.referenced([LAYER, CONFIG, MANIFEST, CHILD, LOOSE]) == set()
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5)
    await metadata.content.put_manifest(
        repo,
        IMAGE,
        ManifestRecord(MANIFEST, MediaType.OCI_MANIFEST, 100),
        ManifestReferences(blobs=(CONFIG,), manifests=(CHILD,)),
        tag="1.0",
    )
    assert await metadata.collector.referenced([LAYER, CONFIG, MANIFEST, CHILD, LOOSE]) == {
        LAYER,
        CONFIG,
        MANIFEST,
        CHILD,
    }

    await metadata.content.delete_manifest(repo, IMAGE, MANIFEST)
    await metadata.content.unlink_blob(repo, IMAGE, LAYER)
    assert await metadata.collector.referenced([LAYER, CONFIG, MANIFEST, CHILD]) == set()


async def test_holdings_name_the_links_and_manifests_that_hold_a_digest(
    metadata: Metadata, repo: int
) -> None:
    """What ``fsck`` checks files against: who holds each digest, and the size each recorded."""
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5, ContentSource.CACHED, "up")
    await metadata.content.link_blob(repo, "other", LAYER, 5)
    await metadata.content.put_manifest(
        repo,
        IMAGE,
        ManifestRecord(MANIFEST, MediaType.OCI_MANIFEST, 100),
        ManifestReferences(blobs=(CONFIG,)),
        tag="1.0",
    )
    assert await metadata.collector.held_digests() == {LAYER, MANIFEST}  # not CONFIG: only named
    held = await metadata.collector.holdings([LAYER, MANIFEST, LOOSE])
    assert sorted(
        (str(h.digest), h.repository, h.image, h.kind, h.size, h.source, h.proxy_name) for h in held
    ) == sorted(
        [
            (str(LAYER), "hub", IMAGE, "blob", 5, ContentSource.CACHED, "up"),
            (str(LAYER), "hub", "other", "blob", 5, ContentSource.LOCAL, None),
            (str(MANIFEST), "hub", IMAGE, "manifest", 100, ContentSource.LOCAL, None),
        ]
    )
    assert all(h.repository_id == repo for h in held)


async def test_referenced_answers_for_more_digests_than_one_query_holds(
    metadata: Metadata, repo: int
) -> None:
    many = [Digest.of(str(index).encode()) for index in range(1200)]
    for digest in many[::300]:
        await metadata.content.link_blob(repo, IMAGE, digest, 1)
    assert await metadata.collector.referenced(many) == set(many[::300])


async def test_collect_blob_removes_only_what_nothing_references(metadata: Metadata, repo: int) -> None:
    removed: list[Digest] = []

    def remover(digest: Digest) -> object:
        async def remove() -> int:
            removed.append(digest)
            return 42

        return remove

    await metadata.content.link_blob(repo, IMAGE, LAYER, 5)
    assert await metadata.collector.collect_blob(LAYER, remover(LAYER)) is None  # type: ignore[arg-type]
    assert await metadata.collector.collect_blob(LOOSE, remover(LOOSE)) == 42  # type: ignore[arg-type]
    assert removed == [LOOSE]


async def test_collect_blobs_removes_the_unreferenced_of_a_batch(metadata: Metadata, repo: int) -> None:
    loose = [Digest.of(f"loose {index}".encode()) for index in range(3)]
    await metadata.content.link_blob(repo, IMAGE, LAYER, 5)
    record = ManifestRecord(MANIFEST, MediaType.OCI_MANIFEST, 100)
    await metadata.content.put_manifest(repo, IMAGE, record, ManifestReferences(blobs=(CONFIG,)))
    asked: list[Digest] = []

    async def remove(digest: Digest) -> int | None:
        asked.append(digest)
        return None if digest == loose[2] else 10  # the last one was in use again: kept

    freed = await metadata.collector.collect_blobs([LAYER, *loose, CONFIG, MANIFEST, loose[0]], remove)

    assert sorted(map(str, asked)) == sorted(map(str, loose))  # each once, none of the referenced ones
    assert freed == {loose[0]: 10, loose[1]: 10}


async def test_a_link_made_while_a_blob_is_collected_waits_until_the_removal_is_done(
    metadata: Metadata, repo: int
) -> None:
    linking: list[asyncio.Task[None]] = []
    finished_during_removal: list[bool] = []

    async def remove() -> int:
        linking.append(asyncio.create_task(metadata.content.link_blob(repo, IMAGE, LOOSE, 7)))
        done, _ = await asyncio.wait(linking, timeout=0.5)  # bounded: it must not get through
        finished_during_removal.append(bool(done))
        return 7

    assert await metadata.collector.collect_blob(LOOSE, remove) == 7
    await linking[0]
    assert finished_during_removal == [False]
    assert await metadata.collector.referenced([LOOSE]) == {LOOSE}  # the link came after the removal


async def test_a_manifest_recorded_while_a_blob_is_collected_waits_too(metadata: Metadata, repo: int) -> None:
    recording: list[asyncio.Task[None]] = []
    finished_during_removal: list[bool] = []

    async def remove() -> int:
        put = metadata.content.put_manifest(
            repo, IMAGE, ManifestRecord(LOOSE, MediaType.OCI_MANIFEST, 100), ManifestReferences()
        )
        recording.append(asyncio.create_task(put))
        done, _ = await asyncio.wait(recording, timeout=0.5)
        finished_during_removal.append(bool(done))
        return 1

    await metadata.collector.collect_blob(LOOSE, remove)
    await recording[0]
    assert finished_during_removal == [False]


async def test_list_uploads_gives_every_session_oldest_first(metadata: Metadata, repo: int) -> None:
    now = datetime.now(UTC)
    await metadata.content.create_upload(Upload("new", repo, IMAGE, created_at=now))
    await metadata.content.create_upload(Upload("old", repo, IMAGE, created_at=now - timedelta(days=2)))
    listed = await metadata.collector.list_uploads()
    assert [upload.id for upload in listed] == ["old", "new"]
    assert listed[0].created_at is not None
    assert abs(listed[0].created_at - (now - timedelta(days=2))) < timedelta(seconds=1)


async def test_one_collector_at_a_time_among_stores_on_one_database(
    backend: Backend, metadata: Metadata
) -> None:
    other = await backend.open()
    try:
        async with metadata.collector.collector_lock() as first:
            assert first is True
            async with other.collector.collector_lock() as second:
                assert second is (backend.name == "sqlite")  # SQLite: one node, the file lock decides
        async with other.collector.collector_lock() as after:
            assert after is True
    finally:
        await other.close()
