"""The blob store contract (``cargohold.storage.base``), run against every driver: filesystem and S3.

What every caller relies on: a blob is visible only once committed and verified, never half-written; a
mismatch keeps nothing; pushes resume across requests and across processes or nodes that share the backend;
reads stream ranges; a fetch's spool can be followed on local disk; garbage collection lists and removes
blobs and abandoned uploads, keeping what changed since it looked.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator

import pytest

from cargohold.errors import (
    BlobUnknownError,
    BlobUploadUnknownError,
    DigestInvalidError,
    RangeNotSatisfiableError,
    SizeInvalidError,
)
from cargohold.models import Digest
from cargohold.storage.base import BlobStore
from tests.storage.conftest import PART, Driver

BIG = 2 * PART + 123_457  # spans several multipart parts of the S3 driver, and a short last one


def blob(size: int, seed: int = 0) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size] if size else b""


def random_blob(size: int) -> bytes:
    return os.urandom(size)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def write_in_chunks(store: BlobStore, upload_id: str, data: bytes, chunk: int = 1024 * 1024) -> None:
    writer = await store.start_upload(upload_id)
    for start in range(0, len(data), chunk):
        await writer.write(data[start : start + chunk])
    await writer.commit(Digest.of(data), len(data))


# --- commit: visible only when whole and verified ----------------------------------------------------


@pytest.mark.parametrize("size", [0, 10, BIG])
async def test_a_committed_blob_reads_back_whole(driver: Driver, size: int) -> None:
    data = random_blob(size)
    digest = Digest.of(data)
    await write_in_chunks(driver.store, "up1", data)
    assert await driver.store.stat(digest) == size
    assert await collect(driver.store.read(digest)) == data
    assert [d async for d in driver.store.iter_digests()] == [digest]
    assert await driver.in_flight() == 0, "nothing of the upload is left behind"


async def test_nothing_is_visible_before_commit(driver: Driver) -> None:
    data = random_blob(BIG)
    digest = Digest.of(data)
    writer = await driver.store.start_upload("up1")
    await writer.write(data[: PART + 10])
    await writer.close()
    writer = await driver.store.resume_upload("up1")
    await writer.write(data[PART + 10 :])
    assert await driver.store.stat(digest) is None
    assert [d async for d in driver.store.iter_digests()] == []
    await writer.commit(digest)
    assert await driver.store.stat(digest) == BIG


@pytest.mark.parametrize("size", [10, BIG])
async def test_a_digest_mismatch_keeps_nothing(driver: Driver, size: int) -> None:
    data = random_blob(size)
    claimed = Digest.of(b"something else")
    writer = await driver.store.start_upload("up1")
    await writer.write(data)
    with pytest.raises(DigestInvalidError):
        await writer.commit(claimed)
    assert await driver.store.stat(claimed) is None
    assert await driver.store.stat(Digest.of(data)) is None
    assert await driver.in_flight() == 0
    with pytest.raises(BlobUploadUnknownError):
        await driver.store.resume_upload("up1")


async def test_a_size_mismatch_keeps_nothing(driver: Driver) -> None:
    data = random_blob(BIG)
    writer = await driver.store.start_upload("up1")
    await writer.write(data)
    with pytest.raises(SizeInvalidError):
        await writer.commit(Digest.of(data), BIG - 1)
    assert await driver.store.stat(Digest.of(data)) is None
    assert await driver.in_flight() == 0


async def test_committing_stored_bytes_again_keeps_one_blob(driver: Driver) -> None:
    data = blob(1000)
    await write_in_chunks(driver.store, "up1", data)
    await write_in_chunks(driver.store, "up2", data)
    assert [d async for d in driver.store.iter_digests()] == [Digest.of(data)]
    assert await driver.in_flight() == 0


async def test_a_damaged_blob_is_replaced_by_verified_bytes(driver: Driver) -> None:
    data = blob(5000)
    digest = Digest.of(data)
    await write_in_chunks(driver.store, "up1", data)
    await driver.damage(digest, data[:100])
    assert await driver.store.stat(digest) == 100
    await write_in_chunks(driver.store, "up2", data)
    assert await collect(driver.store.read(digest)) == data


async def test_sha512_is_verified_too(driver: Driver) -> None:
    data = random_blob(PART + 5)
    digest = Digest("sha512", hashlib.sha512(data).hexdigest())
    writer = await driver.store.start_upload("up1")
    await writer.write(data)
    await writer.commit(digest)
    assert await collect(driver.store.read(digest)) == data


async def test_abort_removes_the_upload(driver: Driver) -> None:
    writer = await driver.store.start_upload("up1")
    await writer.write(random_blob(PART + 1))
    await writer.abort()
    assert await driver.in_flight() == 0
    with pytest.raises(BlobUploadUnknownError):
        await driver.store.resume_upload("up1")


# --- resumable pushes -------------------------------------------------------------------------------


async def test_a_push_resumes_across_requests(driver: Driver) -> None:
    data = random_blob(BIG)
    writer = await driver.store.start_upload("up1")
    await writer.close()
    for start in range(0, BIG, 3 * 1024 * 1024 + 7):  # chunks that do not line up with parts
        writer = await driver.store.resume_upload("up1")
        assert writer.size == start
        await writer.write(data[start : start + 3 * 1024 * 1024 + 7])
        await writer.close()
    writer = await driver.store.resume_upload("up1")
    assert writer.size == BIG
    assert await writer.commit(Digest.of(data)) == BIG
    assert await collect(driver.store.read(Digest.of(data))) == data


async def test_a_push_resumes_on_another_node_and_is_verified_there(driver: Driver) -> None:
    data = random_blob(BIG)
    writer = await driver.store.start_upload("up1")
    await writer.write(data[: PART + 1000])
    await writer.close()
    other = await driver.reopen()  # no memory of the upload's hash: it must verify from the bytes
    writer = await other.resume_upload("up1")
    assert writer.size == PART + 1000
    await writer.write(data[PART + 1000 :])
    with pytest.raises(DigestInvalidError):
        await writer.commit(Digest.of(data[:-1] + b"x"))
    writer = await driver.store.start_upload("up2")
    await writer.write(data[:100])
    await writer.close()
    writer = await other.resume_upload("up2")
    await writer.write(data[100:])
    await writer.commit(Digest.of(data))
    assert await collect(driver.store.read(Digest.of(data))) == data


async def test_unknown_and_invalid_upload_ids(driver: Driver) -> None:
    with pytest.raises(BlobUploadUnknownError):
        await driver.store.resume_upload("never-started")
    for bad in ("../x", "a/b", "", "x" * 65):
        with pytest.raises(BlobUploadUnknownError):
            await driver.store.start_upload(bad)
    await driver.store.delete_upload("never-started")  # nothing to do, no error


async def test_delete_upload_removes_everything_of_it(driver: Driver) -> None:
    writer = await driver.store.start_upload("up1")
    await writer.write(random_blob(PART + 10))
    await writer.close()
    await driver.store.delete_upload("up1")
    assert await driver.in_flight() == 0
    with pytest.raises(BlobUploadUnknownError):
        await driver.store.resume_upload("up1")


# --- a fetch's spool is followed on local disk ---------------------------------------------------------


async def test_a_fetch_spool_grows_on_local_disk_and_goes_at_commit(driver: Driver) -> None:
    data = random_blob(BIG)
    writer = await driver.store.start_upload("fetch-1", caller_verifies=True)
    path = driver.store.upload_path("fetch-1")
    await writer.write(data[:PART])
    await writer.write(data[PART : PART + 10])
    follower_sees = path.read_bytes()[: writer.flushed]
    assert writer.flushed >= PART, "a follower can read what was written so far"
    assert follower_sees == data[: writer.flushed]
    await writer.write(data[PART + 10 :])
    assert await writer.commit(Digest.of(data), BIG) == BIG  # the caller hashed; the size is checked
    assert not path.exists()
    assert await collect(driver.store.read(Digest.of(data))) == data


async def test_a_fetch_of_the_wrong_size_keeps_nothing(driver: Driver) -> None:
    data = random_blob(1000)
    writer = await driver.store.start_upload("fetch-1", caller_verifies=True)
    await writer.write(data)
    with pytest.raises(SizeInvalidError):
        await writer.commit(Digest.of(data), 1001)
    assert await driver.store.stat(Digest.of(data)) is None
    assert await driver.in_flight() == 0


# --- reads ------------------------------------------------------------------------------------------


async def test_ranges(driver: Driver) -> None:
    data = random_blob(PART + 77)
    digest = Digest.of(data)
    await write_in_chunks(driver.store, "up1", data)
    assert await collect(driver.store.read(digest, 10, 20)) == data[10:30]
    assert await collect(driver.store.read(digest, PART)) == data[PART:]
    assert await collect(driver.store.read(digest, len(data) - 5, 100)) == data[-5:]
    assert await collect(driver.store.read(digest, len(data))) == b""
    assert await collect(driver.store.read(digest, 3, 0)) == b""
    with pytest.raises(RangeNotSatisfiableError) as raised:
        await collect(driver.store.read(digest, len(data) + 1))
    assert raised.value.size == len(data)


async def test_reads_of_unknown_or_invalid_digests(driver: Driver) -> None:
    absent = Digest.of(b"absent")
    with pytest.raises(BlobUnknownError):
        await collect(driver.store.read(absent))
    with pytest.raises(BlobUnknownError):
        await collect(driver.store.read(absent, 5))
    with pytest.raises(BlobUnknownError):
        await driver.store.read_small(absent, 100)
    assert await driver.store.stat(absent) is None
    with pytest.raises(DigestInvalidError):
        await driver.store.stat(Digest("sha256", "../../etc"))


async def test_small_content(driver: Driver) -> None:
    manifest = b'{"schemaVersion": 2}'
    digest = await driver.store.put_small(manifest)
    assert digest == Digest.of(manifest)
    assert await driver.store.put_small(manifest) == digest
    assert await driver.store.read_small(digest, 1000) == manifest
    with pytest.raises(SizeInvalidError):
        await driver.store.read_small(digest, 5)
    await driver.store.delete(digest)
    assert await driver.store.stat(digest) is None
    await driver.store.delete(digest)  # absent: no error


async def test_redirect_is_off_unless_configured(driver: Driver) -> None:
    digest = await driver.store.put_small(b"x")
    assert await driver.store.redirect_url(digest) is None


# --- garbage collection's view ------------------------------------------------------------------------


async def test_sweeper_lists_blobs_and_removes_only_idle_ones(driver: Driver) -> None:
    before = int(time.time())
    data = blob(3000)
    digest = Digest.of(data)
    await write_in_chunks(driver.store, "up1", data)
    [listed] = [f async for f in driver.sweeper.list_blobs()]
    assert (listed.name, listed.size, listed.area) == (str(digest), 3000, "blobs")
    assert before <= listed.mtime <= time.time() + 1
    assert await driver.sweeper.remove_blob(digest, idle_before=time.time() - 3600) is None
    assert await driver.store.stat(digest) == 3000, "modified after idle_before: kept"
    assert await driver.sweeper.remove_blob(digest, idle_before=time.time() + 3600) == 3000
    assert await driver.store.stat(digest) is None
    assert await driver.sweeper.remove_blob(digest, idle_before=time.time() + 3600) is None


async def test_storing_bytes_again_makes_their_blob_young(driver: Driver) -> None:
    data = blob(3000)
    await write_in_chunks(driver.store, "up1", data)
    await driver.damage(Digest.of(data), data)  # same bytes, written "earlier"
    [first] = [f async for f in driver.sweeper.list_blobs()]
    await driver.store.put_small(data)
    [again] = [f async for f in driver.sweeper.list_blobs()]
    assert again.mtime >= first.mtime
    assert await driver.sweeper.remove_blob(Digest.of(data), idle_before=int(again.mtime)) is None


async def test_sweeper_lists_and_removes_an_idle_upload(driver: Driver) -> None:
    writer = await driver.store.start_upload("up1")
    await writer.write(random_blob(PART + 10))
    await writer.close()
    spools = [s for s in await driver.sweeper.list_spools() if s.name == "up1"]
    assert [(s.area, s.size) for s in spools] == [("uploads", PART + 10)]
    assert await driver.sweeper.remove_spool(spools[0], idle_before=time.time() - 3600) is None
    assert (await driver.store.resume_upload("up1")).size == PART + 10
    assert await driver.sweeper.remove_spool(spools[0], idle_before=time.time() + 3600) == PART + 10
    assert await driver.in_flight() == 0
    with pytest.raises(BlobUploadUnknownError):
        await driver.store.resume_upload("up1")


async def test_sweeper_removes_what_a_dead_fetch_left(driver: Driver) -> None:
    """A process killed while fetching: its writer was never closed, committed or aborted."""
    writer = await driver.store.start_upload("fetch-dead", caller_verifies=True)
    await writer.write(random_blob(PART + 10))
    del writer
    spools = await driver.sweeper.list_spools()
    assert spools, "what the dead fetch left is listed"
    for spool in spools:
        await driver.sweeper.remove_spool(spool, idle_before=time.time() + 3600)
    assert await driver.in_flight() == 0
