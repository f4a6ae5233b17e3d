"""The filesystem blob store: layout, verified atomic commits, resumable uploads, reads, and path safety."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.errors import (
    BlobUnknownError,
    BlobUploadUnknownError,
    DigestInvalidError,
    RangeNotSatisfiableError,
    SizeInvalidError,
)
from cargohold.models import Digest
from cargohold.storage import filesystem
from cargohold.storage.base import BlobStore, BlobWriter
from cargohold.storage.filesystem import FilesystemBlobStore

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path)


def as_protocol(store: FilesystemBlobStore) -> BlobStore:
    """Checked by mypy: the driver satisfies the BlobStore protocol."""
    return store


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def upload(store: BlobStore, upload_id: str, *parts: bytes) -> BlobWriter:
    writer = await store.start_upload(upload_id)
    for part in parts:
        await writer.write(part)
    return writer


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


# --- commits ---------------------------------------------------------------------------------------


async def test_commit_makes_blob_visible_in_the_documented_layout(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = b"hello blob"
    digest = Digest.of(data)
    writer = await upload(store, "u1", data[:4], data[4:])
    assert writer.size == len(data)
    assert await store.stat(digest) is None
    assert store.local_path(digest) is None
    with pytest.raises(BlobUnknownError):
        await collect(store.read(digest))

    assert await writer.commit(digest, len(data)) == len(data)

    path = tmp_path / "blobs" / "sha256" / digest.hex[:2] / digest.hex
    assert path.read_bytes() == data
    assert store.local_path(digest) == path
    assert await store.stat(digest) == len(data)
    assert await collect(store.read(digest)) == data
    assert files_under(tmp_path / "uploads") == []


async def test_nothing_is_visible_before_commit_even_after_close(store: FilesystemBlobStore) -> None:
    data = b"x" * 3000
    writer = await upload(store, "u1", data)
    await writer.close()
    assert await store.stat(Digest.of(data)) is None
    assert [d async for d in store.iter_digests()] == []


async def test_digest_mismatch_leaves_nothing(store: FilesystemBlobStore, tmp_path: Path) -> None:
    writer = await upload(store, "u1", b"actual bytes")
    wrong = Digest.of(b"other bytes")
    with pytest.raises(DigestInvalidError) as info:
        await writer.commit(wrong)
    assert str(wrong) in info.value.message
    assert files_under(tmp_path) == []
    assert await store.stat(wrong) is None
    assert await store.stat(Digest.of(b"actual bytes")) is None
    with pytest.raises(BlobUploadUnknownError):
        await store.resume_upload("u1")


async def test_size_mismatch_leaves_nothing(store: FilesystemBlobStore, tmp_path: Path) -> None:
    data = b"twelve bytes"
    writer = await upload(store, "u1", data)
    with pytest.raises(SizeInvalidError):
        await writer.commit(Digest.of(data), len(data) + 1)
    assert files_under(tmp_path) == []


async def test_sha512_commit(store: FilesystemBlobStore) -> None:
    data = os.urandom(5000)
    digest = Digest.of(data, "sha512")
    writer = await upload(store, "u1", data)
    assert await writer.commit(digest) == len(data)
    assert await collect(store.read(digest)) == data
    assert [d async for d in store.iter_digests()] == [digest]


async def test_committing_an_existing_digest_keeps_it(store: FilesystemBlobStore, tmp_path: Path) -> None:
    data = b"same content"
    digest = Digest.of(data)
    first = await upload(store, "u1", data)
    await first.commit(digest)
    inode = os.stat(store.blob_path(digest)).st_ino
    second = await upload(store, "u2", data)
    assert await second.commit(digest) == len(data)
    assert os.stat(store.blob_path(digest)).st_ino == inode
    assert files_under(tmp_path / "uploads") == []


async def test_committing_a_digest_whose_file_is_damaged_replaces_it(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = b"the whole blob " * 1000
    digest = Digest.of(data)
    await (await upload(store, "u1", data)).commit(digest)
    path = store.blob_path(digest)
    with path.open("r+b") as file:
        file.truncate(100)
    reader = path.open("rb")  # a reader of the damaged file keeps what it opened
    try:
        assert await (await upload(store, "u2", data)).commit(digest) == len(data)
        assert path.read_bytes() == data
        assert reader.read() == data[:100]
    finally:
        reader.close()
    assert files_under(tmp_path / "uploads") == []


async def test_small_content_whose_file_is_damaged_is_written_again(store: FilesystemBlobStore) -> None:
    data = b'{"schemaVersion": 2}'
    digest = await store.put_small(data)
    store.blob_path(digest).write_bytes(data[:5])
    assert await store.put_small(data) == digest
    assert store.blob_path(digest).read_bytes() == data


async def test_concurrent_commits_of_the_same_digest(store: FilesystemBlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB)
    digest = Digest.of(data)
    writers = [await upload(store, f"u{i}", data) for i in range(8)]
    sizes = await asyncio.gather(*(writer.commit(digest) for writer in writers))
    assert sizes == [len(data)] * 8
    assert hashlib.sha256(store.blob_path(digest).read_bytes()).hexdigest() == digest.hex
    assert files_under(tmp_path / "uploads") == []
    assert files_under(tmp_path / "tmp") == []
    assert files_under(tmp_path / "blobs") == [store.blob_path(digest)]


async def test_writer_refuses_use_after_commit_or_abort(store: FilesystemBlobStore, tmp_path: Path) -> None:
    writer = await upload(store, "u1", b"abc")
    await writer.commit(Digest.of(b"abc"))
    with pytest.raises(BlobUploadUnknownError):
        await writer.write(b"more")
    aborted = await upload(store, "u2", b"abc")
    await aborted.abort()
    assert not (tmp_path / "uploads" / "u2").exists()
    with pytest.raises(BlobUploadUnknownError):
        await aborted.commit(Digest.of(b"abc"))


async def test_small_writes_are_batched(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = filesystem._hash_and_write

    def counting(file: object, hasher: object, chunks: list[bytes]) -> None:
        calls.append(sum(len(chunk) for chunk in chunks))
        original(file, hasher, chunks)  # type: ignore[arg-type]

    monkeypatch.setattr(filesystem, "_hash_and_write", counting)
    chunk = b"z" * 1000
    writer = await upload(store, "u1", *([chunk] * 3000))  # ~3 MB in 1 kB pieces
    await writer.commit(Digest.of(chunk * 3000))
    assert sum(calls) == 3_000_000
    assert len(calls) <= 4


# --- resuming ------------------------------------------------------------------------------------


async def test_resume_in_a_fresh_store_verifies(tmp_path: Path) -> None:
    part1, part2 = os.urandom(MiB + 17), os.urandom(700_000)
    writer = await upload(FilesystemBlobStore(tmp_path), "u1", part1)
    await writer.close()

    other_process = FilesystemBlobStore(tmp_path)
    resumed = await other_process.resume_upload("u1")
    assert resumed.size == len(part1)
    await resumed.write(part2)
    digest = Digest.of(part1 + part2)
    assert await resumed.commit(digest) == len(part1) + len(part2)
    assert await collect(other_process.read(digest)) == part1 + part2


async def test_resume_with_nothing_more_written_verifies_from_disk(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    writer = await upload(FilesystemBlobStore(tmp_path), "u1", data)
    await writer.close()
    resumed = await FilesystemBlobStore(tmp_path).resume_upload("u1")
    with pytest.raises(DigestInvalidError):
        await resumed.commit(Digest.of(data + b"!"))
    writer = await upload(FilesystemBlobStore(tmp_path), "u2", data)
    await writer.close()
    resumed = await FilesystemBlobStore(tmp_path).resume_upload("u2")
    assert await resumed.commit(Digest.of(data)) == len(data)


async def test_resume_in_the_same_store_uses_cached_state(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    part1, part2 = b"a" * 5000, b"b" * 5000
    writer = await upload(store, "u1", part1)
    await writer.close()

    def no_rereading(*args: object) -> None:
        raise AssertionError("the spool was re-read although its hash state was cached")

    monkeypatch.setattr(filesystem, "_hash_file", no_rereading)
    for _ in range(3):  # status checks open and close the upload without writing
        await (await store.resume_upload("u1")).close()
    resumed = await store.resume_upload("u1")
    await resumed.write(part2)
    assert await resumed.commit(Digest.of(part1 + part2)) == 10_000


async def test_cached_state_at_a_stale_offset_is_not_used(tmp_path: Path) -> None:
    """Process A caches state at offset n; process B appends; A resumes and must not trust its cache."""
    process_a, process_b = FilesystemBlobStore(tmp_path), FilesystemBlobStore(tmp_path)
    parts = [os.urandom(4000), os.urandom(5000), os.urandom(6000)]
    writer = await upload(process_a, "u1", parts[0])
    await writer.close()
    writer = await process_b.resume_upload("u1")
    await writer.write(parts[1])
    await writer.close()
    writer = await process_a.resume_upload("u1")
    assert writer.size == 9000
    await writer.write(parts[2])
    assert await writer.commit(Digest.of(b"".join(parts))) == 15_000


async def test_unknown_upload(store: FilesystemBlobStore) -> None:
    with pytest.raises(BlobUploadUnknownError):
        await store.resume_upload("never-started")


async def test_delete_upload_is_idempotent(store: FilesystemBlobStore) -> None:
    writer = await upload(store, "u1", b"abc")
    await writer.close()
    await store.delete_upload("u1")
    await store.delete_upload("u1")
    with pytest.raises(BlobUploadUnknownError):
        await store.resume_upload("u1")


# --- path safety ---------------------------------------------------------------------------------

BAD_UPLOAD_IDS = ["", ".", "..", "../escape", "a/b", "/etc/passwd", "a\x00b", "x" * 65, "%2e%2e", "a b", "ü"]


@pytest.mark.parametrize("upload_id", BAD_UPLOAD_IDS)
async def test_upload_ids_cannot_escape_the_root(
    store: FilesystemBlobStore, tmp_path: Path, upload_id: str
) -> None:
    before = sorted(tmp_path.parent.rglob("*"))
    with pytest.raises(BlobUploadUnknownError):
        await store.start_upload(upload_id)
    with pytest.raises(BlobUploadUnknownError):
        await store.resume_upload(upload_id)
    with pytest.raises(BlobUploadUnknownError):
        await store.delete_upload(upload_id)
    assert sorted(tmp_path.parent.rglob("*")) == before


@pytest.mark.parametrize(
    "digest",
    [
        Digest("sha256", "../../../../etc/passwd"),
        Digest("sha256", "../" + "a" * 61),
        Digest("..", "a" * 64),
        Digest("sha256/../../x", "a" * 64),
        Digest("md5", "a" * 32),
        Digest("sha256", "A" * 64),
        Digest("sha256", "a" * 63 + "/"),
    ],
)
async def test_digests_cannot_escape_the_root(store: FilesystemBlobStore, digest: Digest) -> None:
    with pytest.raises(DigestInvalidError):
        await store.stat(digest)
    with pytest.raises(DigestInvalidError):
        store.local_path(digest)
    with pytest.raises(DigestInvalidError):
        await collect(store.read(digest))
    with pytest.raises(DigestInvalidError):
        await store.read_small(digest, 100)
    with pytest.raises(DigestInvalidError):
        await store.delete(digest)
    writer = await upload(store, "u1", b"data")
    with pytest.raises(DigestInvalidError):
        await writer.commit(digest)


# --- reads ---------------------------------------------------------------------------------------


@pytest.fixture
async def big_blob(store: FilesystemBlobStore) -> tuple[Digest, bytes]:
    data = os.urandom(filesystem.READ_CHUNK * 3 + 123)
    digest = Digest.of(data)
    writer = await upload(store, "u1", data)
    await writer.commit(digest)
    return digest, data


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, None), (0, 1), (1, 10), (filesystem.READ_CHUNK - 1, 2), (100, filesystem.READ_CHUNK * 2), (5, 0)],
)
async def test_range_reads(
    store: FilesystemBlobStore, big_blob: tuple[Digest, bytes], offset: int, length: int | None
) -> None:
    digest, data = big_blob
    got = await collect(store.read(digest, offset, length))
    assert got == data[offset : None if length is None else offset + length]


async def test_reads_stream_in_bounded_chunks(
    store: FilesystemBlobStore, big_blob: tuple[Digest, bytes]
) -> None:
    digest, data = big_blob
    chunks = [chunk async for chunk in store.read(digest)]
    assert len(chunks) == 4
    assert max(len(c) for c in chunks) == filesystem.READ_CHUNK
    tail = await collect(store.read(digest, len(data) - 10, 1000))
    assert tail == data[-10:]
    assert await collect(store.read(digest, len(data))) == b""


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (0, -1), (10**12, None)])
async def test_out_of_range_reads(
    store: FilesystemBlobStore, big_blob: tuple[Digest, bytes], offset: int, length: int | None
) -> None:
    with pytest.raises(RangeNotSatisfiableError) as info:
        await collect(store.read(big_blob[0], offset, length))
    assert info.value.size == len(big_blob[1])


async def test_read_small_and_put_small(store: FilesystemBlobStore, tmp_path: Path) -> None:
    manifest = b'{"schemaVersion": 2}'
    digest = await store.put_small(manifest)
    assert digest == Digest.of(manifest)
    assert (tmp_path / "blobs" / "sha256" / digest.hex[:2] / digest.hex).read_bytes() == manifest
    assert await store.put_small(manifest) == digest
    assert files_under(tmp_path / "tmp") == []
    assert await store.read_small(digest, len(manifest)) == manifest
    with pytest.raises(SizeInvalidError):
        await store.read_small(digest, len(manifest) - 1)
    with pytest.raises(BlobUnknownError):
        await store.read_small(Digest.of(b"absent"), 100)


async def test_concurrent_put_small(store: FilesystemBlobStore, tmp_path: Path) -> None:
    manifest = os.urandom(100_000)
    digests = await asyncio.gather(*(store.put_small(manifest) for _ in range(10)))
    assert set(digests) == {Digest.of(manifest)}
    assert await store.read_small(digests[0], 1 << 20) == manifest
    assert files_under(tmp_path / "tmp") == []


async def test_delete_and_iter_digests(store: FilesystemBlobStore, tmp_path: Path) -> None:
    digests = {await store.put_small(bytes([i])) for i in range(20)}
    (tmp_path / "blobs" / "sha256" / "stray").write_text("not a blob")
    (tmp_path / "blobs" / "sha256" / "zz").mkdir()
    (tmp_path / "blobs" / "sha256" / "zz" / "zz").write_text("not a blob")
    assert {d async for d in store.iter_digests()} == digests
    gone = next(iter(digests))
    await store.delete(gone)
    await store.delete(gone)
    assert await store.stat(gone) is None
    assert {d async for d in store.iter_digests()} == digests - {gone}


async def test_iter_digests_of_an_empty_store(store: FilesystemBlobStore) -> None:
    assert [d async for d in store.iter_digests()] == []


# --- memory --------------------------------------------------------------------------------------


async def test_large_blob_keeps_memory_flat(store: FilesystemBlobStore) -> None:
    total = 64 * MiB
    piece = 64 * 1024
    expected = hashlib.sha256()
    tracemalloc.start()
    try:
        writer = await store.start_upload("big")
        for i in range(total // piece):
            chunk = i.to_bytes(8, "big") * (piece // 8)
            expected.update(chunk)
            await writer.write(chunk)
        digest = Digest("sha256", expected.hexdigest())
        assert await writer.commit(digest) == total
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        reread = hashlib.sha256()
        async for chunk in store.read(digest):
            reread.update(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reread.hexdigest() == digest.hex
    assert write_peak < 8 * MiB, write_peak
    assert read_peak < 4 * MiB, read_peak


async def test_a_writer_whose_caller_verifies_checks_only_the_size(store: FilesystemBlobStore) -> None:
    short = await store.start_upload("fetch-1", caller_verifies=True)
    await short.write(b"abc")
    with pytest.raises(SizeInvalidError):
        await short.commit(Digest.of(b"abc"), expected_size=4)
    writer = await store.start_upload("fetch-2", caller_verifies=True)
    await writer.write(b"abc")
    assert await writer.commit(Digest.of(b"abc"), 3) == 3
    assert writer.flushed == 3
    assert await collect(store.read(Digest.of(b"abc"))) == b"abc"


async def test_what_a_writer_calls_flushed_is_in_the_spool_file(store: FilesystemBlobStore) -> None:
    writer = await store.start_upload("u1")
    pieces = [bytes([i % 256]) * 1000 for i in range(1, 1200)]  # a little over a megabyte, in 1 kB pieces
    for piece in pieces:
        await writer.write(piece)
    assert writer.flushed > 0
    on_disk = store.upload_path("u1").read_bytes()
    assert on_disk[: writer.flushed] == b"".join(pieces)[: writer.flushed]
    assert len(on_disk) >= writer.flushed
    await writer.abort()
