"""Garbage collection in one process, on a real SQLite metadata store and a real filesystem blob store:
what goes (unreferenced blobs, abandoned uploads, orphan spools, stale fetcher files), what stays
(referenced or young), dry runs, the one-collector lock, and the re-check that no link is left pointing at
bytes a collection removed."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cargohold.errors import UnavailableError
from cargohold.metadata.sql import Metadata, open_metadata
from cargohold.models import Digest, ManifestRecord, ManifestReferences, MediaType, Repository, Upload
from cargohold.registry.gc import CollectorBusyError, GarbageCollector, GcPolicy, Removed
from cargohold.registry.gc_guard import GuardedContentStore
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.sweeping import FilesystemSweeper

IMAGE = "team/app"
DAY = 86400.0
HOUR = 3600.0


@dataclass
class World:
    metadata: Metadata
    store: FilesystemBlobStore
    gc: GarbageCollector
    repo: int
    data_dir: Path

    async def blob(self, content: bytes, *, age: float = DAY, link: bool = False) -> Digest:
        digest = await self.store.put_small(content)
        set_age(self.store.blob_path(digest), age)
        if link:
            await self.metadata.content.link_blob(self.repo, IMAGE, digest, len(content))
        return digest


def set_age(path: Path, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when))


def make_gc(metadata: Metadata, store: FilesystemBlobStore, data_dir: Path) -> GarbageCollector:
    return GarbageCollector(
        metadata.collector,
        metadata.content,
        FilesystemSweeper(store),
        lock_path=data_dir / "gc.lock",
        work_dir=data_dir / "fetch",
        policy=GcPolicy(grace_seconds=HOUR, upload_max_idle_seconds=DAY),
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    data_dir = tmp_path / "data"
    metadata = await open_metadata(f"sqlite:///{data_dir}/cargohold.db")
    store = FilesystemBlobStore(data_dir)
    repo = await metadata.repositories.create_repository(Repository(name="hub"))
    assert repo.id is not None
    try:
        yield World(metadata, store, make_gc(metadata, store, data_dir), repo.id, data_dir)
    finally:
        await metadata.close()


async def test_unreferenced_old_blobs_go_and_their_bytes_are_counted(world: World) -> None:
    linked = await world.blob(b"linked layer", link=True)
    manifest = await world.blob(b"a manifest")
    config = await world.blob(b"a config the manifest names")
    await world.metadata.content.put_manifest(
        world.repo,
        IMAGE,
        ManifestRecord(manifest, MediaType.OCI_MANIFEST, 10),
        ManifestReferences(blobs=(config,)),
        tag="1",
    )
    orphan = await world.blob(b"orphan bytes")
    young = await world.blob(b"young orphan", age=60)

    report = await world.gc.collect()

    assert report.removed == [Removed("blob", str(orphan), len(b"orphan bytes"))]
    assert report.bytes_freed == len(b"orphan bytes")
    assert await world.store.stat(orphan) is None
    for kept in (linked, manifest, config, young):
        assert await world.store.stat(kept) is not None


async def test_blobs_go_once_their_image_is_deleted(world: World) -> None:
    layer = await world.blob(b"layer", link=True)
    manifest = await world.blob(b"manifest")
    await world.metadata.content.put_manifest(
        world.repo,
        IMAGE,
        ManifestRecord(manifest, MediaType.OCI_MANIFEST, 8),
        ManifestReferences(blobs=(layer,)),
        tag="1",
    )
    assert (await world.gc.collect()).removed == []
    await world.metadata.inventory.delete_image(world.repo, IMAGE)
    report = await world.gc.collect()
    assert sorted(item.name for item in report.removed) == sorted([str(layer), str(manifest)])
    assert report.bytes_freed == len(b"layer") + len(b"manifest")


async def test_a_dry_run_reports_the_same_and_removes_nothing(world: World) -> None:
    orphan = await world.blob(b"orphan bytes")
    spool = world.store.upload_path("fetch-" + "c" * 32)
    spool.write_bytes(b"partial")
    set_age(spool, 2 * DAY)

    dry = await world.gc.collect(dry_run=True)
    assert dry.dry_run is True
    assert await world.store.stat(orphan) is not None
    assert spool.exists()
    real = await world.gc.collect()
    assert sorted(dry.removed, key=repr) == sorted(real.removed, key=repr)
    assert real.bytes_freed == len(b"orphan bytes") + len(b"partial")
    assert await world.store.stat(orphan) is None
    assert not spool.exists()


async def test_abandoned_uploads_go_with_their_spools_active_ones_stay(world: World) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=3)
    for upload_id in ("abandoned", "active"):
        await world.metadata.content.create_upload(Upload(upload_id, world.repo, IMAGE, created_at=long_ago))
        writer = await world.store.start_upload(upload_id)
        await writer.write(b"x" * 100)
        await writer.close()
    set_age(world.store.upload_path("abandoned"), 2 * DAY)  # "active" received its bytes just now
    await world.metadata.content.create_upload(Upload("no-spool", world.repo, IMAGE, created_at=long_ago))
    fresh = Upload("fresh", world.repo, IMAGE, created_at=datetime.now(UTC))
    await world.metadata.content.create_upload(fresh)  # its spool is not there (yet): timed from its start

    report = await world.gc.collect()

    assert sorted(report.removed, key=repr) == [
        Removed("upload", "abandoned", 100),
        Removed("upload", "no-spool", 0),
    ]
    assert await world.metadata.content.get_upload("abandoned") is None
    assert await world.metadata.content.get_upload("no-spool") is None
    assert not world.store.upload_path("abandoned").exists()
    for kept in ("active", "fresh"):
        assert await world.metadata.content.get_upload(kept) is not None
    assert world.store.upload_path("active").exists()


async def test_orphan_spools_and_stale_fetcher_files_go_by_age(world: World) -> None:
    old_spool = world.store.upload_path("fetch-" + "d" * 32)
    new_spool = world.store.upload_path("fetch-" + "e" * 32)
    small = world.store.root / "tmp" / ("f" * 32)
    for path, content in ((old_spool, b"12345"), (new_spool, b"123"), (small, b"12")):
        path.write_bytes(content)
    set_age(old_spool, 2 * DAY)
    set_age(small, 2 * DAY)
    work = world.data_dir / "fetch"
    work.mkdir()
    lock = work / ("sha256-" + "1" * 64 + ".lock")
    lock.write_bytes(b"")
    set_age(lock, 2 * DAY)

    report = await world.gc.collect()

    assert sorted(report.removed, key=repr) == sorted(
        [Removed("spool", old_spool.name, 5), Removed("spool", small.name, 2), Removed("work", lock.name, 0)],
        key=repr,
    )
    assert new_spool.exists()
    assert not old_spool.exists()
    assert not small.exists()
    assert not lock.exists()


async def test_one_collection_at_a_time(world: World) -> None:
    orphan = await world.blob(b"orphan")
    fd = os.open(world.data_dir / "gc.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another worker of the node is collecting
    try:
        with pytest.raises(CollectorBusyError):
            await world.gc.collect()
        assert await world.gc.collect_if_free() is None
        assert await world.store.stat(orphan) is not None
    finally:
        os.close(fd)
    assert (await world.gc.collect()).bytes_freed == len(b"orphan")


async def test_a_link_to_bytes_collected_meanwhile_is_taken_back_and_retried(world: World) -> None:
    guarded = GuardedContentStore(world.metadata.content, world.store)
    orphan = await world.blob(b"stored long ago")
    # A push found the bytes stored (so it kept no copy), then a collection removed them before the link.
    assert (await world.gc.collect()).bytes_freed == len(b"stored long ago")
    with pytest.raises(UnavailableError):
        await guarded.link_blob(world.repo, IMAGE, orphan, len(b"stored long ago"))
    assert await world.metadata.content.get_blob_link(world.repo, IMAGE, orphan) is None
    with pytest.raises(UnavailableError):
        await guarded.put_manifest(
            world.repo, IMAGE, ManifestRecord(orphan, MediaType.OCI_MANIFEST, 15), ManifestReferences(), "t"
        )
    assert await world.metadata.content.get_manifest(world.repo, IMAGE, orphan) is None

    # The retry brings the bytes again: the link stays.
    again = await world.blob(b"stored long ago", age=0)
    await guarded.link_blob(world.repo, IMAGE, again, len(b"stored long ago"))
    assert await world.metadata.content.get_blob_link(world.repo, IMAGE, again) is not None
