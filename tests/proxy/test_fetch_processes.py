"""The single-flight blob fetcher across worker processes that share one data and work directory: one
upstream download per digest among them, followers tailing the leader's spool, and a leader that dies
(lock released by the kernel, files left behind) never blocking or corrupting the next fetch.

Processes start with ``spawn``, like separate server workers, and count upstream opens in shared memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
from collections.abc import AsyncIterator
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import pytest

from cargohold.errors import FailureKind, UpstreamFailedError
from cargohold.models import Digest
from cargohold.proxy.election import DigestLock, LeaderState
from cargohold.proxy.fetch import BlobFeed, BlobFetcher, BlobSource
from cargohold.storage.filesystem import FilesystemBlobStore

MiB = 1024 * 1024
WORKERS = 3
CHUNK = 128 * 1024


def body(size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


class HeldSource:
    """Sends the first half, then waits (in a thread) until every worker's fetch() has answered."""

    def __init__(self, data: bytes, all_answered: Any) -> None:
        self.size = len(data)
        self._data = data
        self._all_answered = all_answered

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        half = len(self._data) // 2
        for offset in range(0, len(self._data), CHUNK):
            joined = offset < half or await asyncio.to_thread(self._all_answered.wait, 60)
            if not joined:
                raise UpstreamFailedError("the other workers never joined", kind=FailureKind.TIMEOUT)
            yield self._data[offset : offset + CHUNK]

    def refused(self, error: UpstreamFailedError) -> None:
        return None

    async def close(self) -> None:
        return None


def worker(
    root: str,
    size: int,
    opens: Synchronized[int],
    answered: Synchronized[int],
    all_answered: Any,
    results: Any,
) -> None:
    """One server worker: fetch the blob, read it all, report (bytes hash, proxy name, on_committed calls)."""
    data = body(size)
    digest = Digest.of(data)

    async def main() -> None:
        fetcher = BlobFetcher(FilesystemBlobStore(Path(root) / "data"), Path(root) / "work", hold_bytes=0)
        committed: list[tuple[int, str]] = []

        async def open_source() -> tuple[str, BlobSource]:
            with opens.get_lock():
                opens.value += 1
            return f"proxy-of-{os.getpid()}", HeldSource(data, all_answered)

        async def on_committed(size: int, proxy_name: str) -> None:
            committed.append((size, proxy_name))

        feed = await fetcher.fetch(digest, open_source, on_committed)
        with answered.get_lock():
            answered.value += 1
            if answered.value == WORKERS:
                all_answered.set()
        hasher = hashlib.sha256()
        async for chunk in feed.chunks():
            hasher.update(chunk)
        await fetcher.close()
        results.put((hasher.hexdigest(), feed.proxy_name, committed))

    asyncio.run(main())


def hold_lock(work_dir: str, digest_text: str, state: dict[str, Any] | None, ready: Any) -> None:
    """A worker that takes the digest's lock (and maybe publishes a download), then hangs until killed."""
    lock = DigestLock(Path(work_dir), Digest.parse(digest_text))
    assert lock.try_acquire()
    if state is not None:
        lock.write_state(LeaderState(pid=os.getpid(), **state))
    ready.set()
    multiprocessing.Event().wait()  # forever


@pytest.fixture
def spawn() -> SpawnContext:
    return multiprocessing.get_context("spawn")


def start_holder(
    spawn: SpawnContext, tmp_path: Path, digest: Digest, state: dict[str, Any] | None
) -> SpawnProcess:
    ready = spawn.Event()
    process = spawn.Process(target=hold_lock, args=(str(tmp_path / "work"), str(digest), state, ready))
    process.start()
    assert ready.wait(60), "the lock-holding process did not start"
    return process


def kill(process: SpawnProcess) -> None:
    process.kill()  # SIGKILL: no clean-up runs; the kernel releases the flock
    process.join(30)


async def read_all(feed: BlobFeed) -> bytes:
    try:
        return b"".join([chunk async for chunk in feed.chunks()])
    finally:
        await feed.aclose()


def test_three_worker_processes_download_a_blob_once_and_all_stream_it(
    spawn: SpawnContext, tmp_path: Path
) -> None:
    size = 8 * MiB + 3
    opens = spawn.Value("i", 0)
    answered = spawn.Value("i", 0)
    all_answered = spawn.Event()
    results = spawn.Queue()
    processes = [
        spawn.Process(target=worker, args=(str(tmp_path), size, opens, answered, all_answered, results))
        for _ in range(WORKERS)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    assert opens.value == 1
    expected = hashlib.sha256(body(size)).hexdigest()
    assert {report[0] for report in reports} == {expected}
    proxy_names = {report[1] for report in reports}
    assert len(proxy_names) == 1  # every worker names the one leader's proxy
    assert all(report[2] == [(size, report[1])] for report in reports)
    blob = FilesystemBlobStore(tmp_path / "data").local_path(Digest.of(body(size)))
    assert blob is not None
    assert blob.stat().st_size == size
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "data" / "uploads").iterdir()) == []


class Upstream:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opens = 0

    async def open(self) -> tuple[str, BlobSource]:
        self.opens += 1
        return "local", Source(self.data)


class Source:
    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self._data = data

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for offset in range(0, len(self._data), CHUNK):
            yield self._data[offset : offset + CHUNK]

    def refused(self, error: UpstreamFailedError) -> None:
        return None

    async def close(self) -> None:
        return None


async def nothing(size: int, proxy_name: str) -> None:
    return None


async def test_a_worker_that_dies_before_its_upstream_answers_hands_over_to_the_next(
    spawn: SpawnContext, tmp_path: Path
) -> None:
    data = body(MiB)
    digest = Digest.of(data)
    store = FilesystemBlobStore(tmp_path / "data")
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0)
    upstream = Upstream(data)
    holder = start_holder(spawn, tmp_path, digest, None)
    try:
        fetching = asyncio.create_task(fetcher.fetch(digest, upstream.open, nothing))
        done, _ = await asyncio.wait({fetching}, timeout=0.3)
        assert not done  # it waits for the worker that holds the lock ...
        assert upstream.opens == 0  # ... and asks no upstream meanwhile
    finally:
        kill(holder)
    feed = await fetching
    assert feed.proxy_name == "local"
    assert await read_all(feed) == data
    assert upstream.opens == 1
    await fetcher.close()


async def test_a_worker_that_dies_mid_download_fails_its_followers_and_leaves_nothing_in_the_way(
    spawn: SpawnContext, tmp_path: Path
) -> None:
    data = body(MiB)
    digest = Digest.of(data)
    store = FilesystemBlobStore(tmp_path / "data")
    (tmp_path / "data" / "uploads" / "fetch-dying").write_bytes(data[:300_000])
    state = {"spool_id": "fetch-dying", "size": len(data), "proxy_name": "remote"}
    holder = start_holder(spawn, tmp_path, digest, state)
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0)
    upstream = Upstream(data)
    try:
        feed = await fetcher.fetch(digest, upstream.open, nothing)  # answered from the leader's state
        assert (feed.size, feed.proxy_name) == (len(data), "remote")
        chunks = feed.chunks()
        received = b""
        while len(received) < 300_000:
            received += await anext(chunks)
        assert received == data[:300_000]  # tailing the other worker's spool
    finally:
        kill(holder)
    with pytest.raises(UpstreamFailedError) as caught:
        await anext(chunks)
    assert caught.value.kind is FailureKind.BAD_CONTENT
    await feed.aclose()
    assert await store.stat(digest) is None
    assert upstream.opens == 0

    again = await fetcher.fetch(digest, upstream.open, nothing)  # the stale lock and state are ignored
    assert await read_all(again) == data
    assert upstream.opens == 1
    await fetcher.close()


async def test_a_worker_whose_download_stalls_times_its_followers_out(
    spawn: SpawnContext, tmp_path: Path
) -> None:
    data = body(200_000)
    digest = Digest.of(data)
    store = FilesystemBlobStore(tmp_path / "data")
    (tmp_path / "data" / "uploads" / "fetch-stuck").write_bytes(data[:1000])
    state = {"spool_id": "fetch-stuck", "size": len(data), "proxy_name": "remote"}
    holder = start_holder(spawn, tmp_path, digest, state)
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0, stall_timeout=0.5)
    try:
        feed = await fetcher.fetch(digest, Upstream(data).open, nothing)
        with pytest.raises(UpstreamFailedError) as caught:
            await read_all(feed)
        assert caught.value.kind is FailureKind.TIMEOUT
    finally:
        kill(holder)
        await fetcher.close()
