"""Garbage collection racing writers, in one process on SQLite and on PostgreSQL: uploads of bytes that are
already stored (or were just collected), links and unlinks of the same digests, while collections with no
grace period run back to back. Afterwards every link names a stored file of its size, and so does every
link a writer was told succeeded and did not take back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.errors import UnavailableError
from cargohold.metadata.base import ContentStore
from cargohold.metadata.sql import Metadata
from cargohold.models import Digest, Repository
from cargohold.registry.gc import GarbageCollector, GcPolicy
from cargohold.registry.gc_guard import GuardedContentStore
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.sweeping import FilesystemSweeper
from tests.contract.conftest import Backend

CONTENTS = [bytes([index]) * (1000 + index) for index in range(6)]
ROUNDS = 12


@pytest.fixture
async def metadata(backend: Backend) -> AsyncIterator[Metadata]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_no_link_is_left_naming_collected_bytes(metadata: Metadata, tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "data")
    content: ContentStore = GuardedContentStore(metadata.content, store)
    repo = await metadata.repositories.create_repository(Repository(name="hub"))
    assert repo.id is not None
    repo_id = repo.id
    collector = GarbageCollector(
        metadata.collector,
        metadata.content,
        FilesystemSweeper(store),
        lock_path=tmp_path / "data" / "gc.lock",
        work_dir=tmp_path / "data" / "fetch",
        policy=GcPolicy(grace_seconds=0, upload_max_idle_seconds=3600),
    )
    promised: dict[tuple[str, Digest], int] = {}  # links a writer was told exist (and did not take back)
    retried: list[Digest] = []
    done = asyncio.Event()

    async def push(image: str, data: bytes) -> None:
        digest = Digest.of(data)
        while True:
            writer = await store.start_upload(f"u{time.monotonic_ns()}")
            await writer.write(data)
            await writer.commit(digest)
            try:
                await content.link_blob(repo_id, image, digest, len(data))
            except UnavailableError:
                retried.append(digest)  # collected between the commit and the link: push again
                continue
            promised[(image, digest)] = len(data)
            return

    async def writer_task(image: str) -> None:
        for round_number in range(ROUNDS):
            for index, data in enumerate(CONTENTS):
                await push(image, data)
                if (index + round_number) % 2:  # garbage again, for the next collection to race
                    await content.unlink_blob(repo_id, image, Digest.of(data))
                    del promised[(image, Digest.of(data))]

    async def collect_in_a_loop() -> int:
        runs = 0
        while not done.is_set():
            if await collector.collect_if_free() is not None:
                runs += 1
            await asyncio.sleep(0)
        return runs

    loop = asyncio.create_task(collect_in_a_loop())
    try:
        await asyncio.gather(*(writer_task(f"img{number}") for number in range(3)))
    finally:
        done.set()
        runs = await loop
    assert runs >= 3

    for (image, digest), size in promised.items():
        link = await metadata.content.get_blob_link(repo_id, image, digest)
        assert link is not None, (image, digest)
        assert await store.stat(digest) == size, (image, digest)
    for image in ("img0", "img1", "img2"):
        for data in CONTENTS:
            if await metadata.content.get_blob_link(repo_id, image, Digest.of(data)) is not None:
                assert await store.stat(Digest.of(data)) == len(data)
