"""Garbage collection over the S3 driver (a real moto server, real SQLite metadata): unreferenced blobs go and
referenced ones stay, an abandoned push session loses its objects and its multipart upload, what a killed
fetch left in S3 is aborted, and a dry run removes nothing. S3 objects cannot be made older than they are,
so the policy here has no grace period and no idle time: everything not referenced counts as old."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cargohold.metadata.sql import Metadata, open_metadata
from cargohold.models import Repository, Upload
from cargohold.registry.gc import GarbageCollector, GcPolicy
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3_sweeping import S3Sweeper
from tests.support.s3 import S3Server

IMAGE = "team/app"
PART = 5 * 1024 * 1024


@dataclass
class World:
    metadata: Metadata
    store: S3BlobStore
    gc: GarbageCollector
    repo: int
    server: S3Server
    bucket: str

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.server.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]

    def multipart_uploads(self) -> list[str]:
        return [
            u["Key"]
            for u in self.server.client().list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        ]


@pytest.fixture
async def world(tmp_path: Path, s3_server: S3Server) -> AsyncIterator[World]:
    data_dir = tmp_path / "data"
    metadata = await open_metadata(f"sqlite:///{data_dir}/cargohold.db")
    bucket = s3_server.new_bucket()
    store = await S3BlobStore.open(s3_server.options(bucket), data_dir)
    gc = GarbageCollector(
        metadata.collector,
        metadata.content,
        S3Sweeper(store),
        lock_path=data_dir / "gc.lock",
        work_dir=data_dir / "fetch",
        policy=GcPolicy(grace_seconds=0, upload_max_idle_seconds=0),
    )
    repo = await metadata.repositories.create_repository(Repository(name="hub"))
    assert repo.id is not None
    try:
        yield World(metadata, store, gc, repo.id, s3_server, bucket)
    finally:
        await store.close()
        await metadata.close()


async def test_collection_over_s3(world: World) -> None:
    kept = await world.store.put_small(b"a linked layer")
    await world.metadata.content.link_blob(world.repo, IMAGE, kept, len(b"a linked layer"))
    garbage = await world.store.put_small(b"nobody links this")

    session = Upload("abandoned", world.repo, IMAGE, created_at=datetime.now(UTC) - timedelta(days=2))
    await world.metadata.content.create_upload(session)
    writer = await world.store.start_upload("abandoned")
    await writer.write(b"x" * (PART + 100))  # one part uploaded, the rest in the tail
    await writer.close()
    dead_fetch = await world.store.start_upload("fetch-dead", caller_verifies=True)
    await dead_fetch.write(b"y" * (PART + 1))  # its process is killed now: never committed nor aborted
    assert len(world.multipart_uploads()) == 2

    dry = await world.gc.collect(dry_run=True)
    assert {(item.kind, item.name) for item in dry.removed} >= {
        ("blob", str(garbage)),
        ("upload", "abandoned"),
    }
    assert await world.store.stat(garbage) is not None
    assert len(world.multipart_uploads()) == 2

    report = await world.gc.collect()
    removed = {(item.kind, item.name) for item in report.removed}
    assert ("blob", str(garbage)) in removed
    assert ("upload", "abandoned") in removed
    assert ("spool", "fetch-dead") in removed
    assert await world.store.stat(garbage) is None
    assert await world.store.stat(kept) == len(b"a linked layer")
    assert world.multipart_uploads() == [], "no invisible parts are left in S3"
    assert world.keys(world.store.keys.uploads) == []
    assert await world.metadata.content.get_upload("abandoned") is None
    assert [d async for d in world.store.iter_digests()] == [kept]
