"""The filesystem store's files as garbage collection sees them: listings with sizes and times, removals
that keep a file touched since, fetcher work files a process holds locked, and storing bytes that are
already there makes their file young again."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from cargohold.models import Digest
from cargohold.storage.base import StoredFile, SweepableStore
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.sweeping import FilesystemSweeper

DAY = 86400.0


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "data")


@pytest.fixture
def sweeper(store: FilesystemBlobStore) -> FilesystemSweeper:
    return FilesystemSweeper(store)


def as_protocol(sweeper: FilesystemSweeper) -> SweepableStore:
    """Checked by mypy: the sweeper satisfies the SweepableStore protocol."""
    return sweeper


def age(path: Path, seconds: float) -> None:
    """Set the file's times ``seconds`` into the past."""
    when = time.time() - seconds
    os.utime(path, (when, when))


async def test_blobs_are_listed_with_size_and_time(
    store: FilesystemBlobStore, sweeper: FilesystemSweeper
) -> None:
    digest = await store.put_small(b"hello")
    age(store.blob_path(digest), DAY)
    (store.blob_path(digest).parent / "not-a-digest").write_bytes(b"x")
    listed = [blob async for blob in sweeper.list_blobs()]
    assert [(blob.name, blob.size) for blob in listed] == [(str(digest), 5)]
    assert listed[0].mtime == pytest.approx(time.time() - DAY, abs=5)


async def test_a_blob_is_removed_only_when_untouched_since(
    store: FilesystemBlobStore, sweeper: FilesystemSweeper
) -> None:
    digest = await store.put_small(b"fresh")
    assert await sweeper.remove_blob(digest, time.time() - 60) is None  # modified within the last minute
    assert await store.stat(digest) == 5
    age(store.blob_path(digest), DAY)
    assert await sweeper.remove_blob(digest, time.time() - 60) == 5
    assert await store.stat(digest) is None
    assert await sweeper.remove_blob(digest, time.time()) is None  # gone already


async def test_storing_bytes_already_there_touches_their_file(store: FilesystemBlobStore) -> None:
    digest = await store.put_small(b"manifest")
    age(store.blob_path(digest), DAY)
    await store.put_small(b"manifest")
    assert os.stat(store.blob_path(digest)).st_mtime > time.time() - 60

    layer = b"layer bytes"
    writer = await store.start_upload("up1")
    await writer.write(layer)
    await writer.commit(Digest.of(layer))
    age(store.blob_path(Digest.of(layer)), DAY)
    writer = await store.start_upload("up2")
    await writer.write(layer)
    await writer.commit(Digest.of(layer))
    assert os.stat(store.blob_path(Digest.of(layer))).st_mtime > time.time() - 60


async def test_spools_of_uploads_fetches_and_small_writes_are_listed_and_removed(
    store: FilesystemBlobStore, sweeper: FilesystemSweeper
) -> None:
    writer = await store.start_upload("session1")
    await writer.write(b"12345")
    await writer.close()
    fetch_spool = store.upload_path("fetch-" + "a" * 32)
    fetch_spool.write_bytes(b"abc")
    small = store.root / "tmp" / ("b" * 32)
    small.write_bytes(b"xy")
    age(fetch_spool, DAY)
    age(small, DAY)

    spools = {(spool.area, spool.name): spool.size for spool in await sweeper.list_spools()}
    assert spools == {("uploads", "session1"): 5, ("uploads", fetch_spool.name): 3, ("tmp", small.name): 2}

    idle_before = time.time() - 3600
    assert await sweeper.remove_spool(StoredFile("session1", 5, 0, "uploads"), idle_before) is None  # active
    assert await sweeper.remove_spool(StoredFile(fetch_spool.name, 3, 0, "uploads"), idle_before) == 3
    assert await sweeper.remove_spool(StoredFile(small.name, 2, 0, "tmp"), idle_before) == 2
    assert await sweeper.remove_spool(StoredFile("../../etc", 2, 0, "tmp"), idle_before) is None
    assert await sweeper.remove_spool(StoredFile("x", 2, 0, "blobs"), idle_before) is None
    assert {spool.name for spool in await sweeper.list_spools()} == {"session1"}


async def test_fetcher_files_held_by_a_process_are_neither_listed_nor_removed(
    tmp_path: Path, sweeper: FilesystemSweeper
) -> None:
    work = tmp_path / "fetch"
    work.mkdir()
    held = "sha256-" + "1" * 64
    stale = "hub-sha256-" + "2" * 64
    for name in (f"{held}.lock", f"{held}.state", f"{stale}.lock", f"{stale}.state", f"{stale}.state.99.tmp"):
        (work / name).write_text("{}")
        age(work / name, DAY)
    (work / "unrelated.txt").write_text("keep")
    age(work / "unrelated.txt", DAY)
    fd = os.open(work / f"{held}.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a leader downloading that digest
    try:
        listed = sorted(file.name for file in await sweeper.list_work_files(work))
        assert listed == [f"{stale}.lock", f"{stale}.state", f"{stale}.state.99.tmp"]
        idle_before = time.time() - 3600
        assert await sweeper.remove_work_file(work, f"{held}.state", idle_before) is None
        for name in listed:
            assert await sweeper.remove_work_file(work, name, idle_before) == 2
        assert await sweeper.remove_work_file(work, "unrelated.txt", idle_before) is None
    finally:
        os.close(fd)
    assert sorted(path.name for path in work.iterdir()) == [f"{held}.lock", f"{held}.state", "unrelated.txt"]
