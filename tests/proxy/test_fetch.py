"""The single-flight blob fetcher within one process: one upstream GET per digest however many clients ask,
every client streamed from the first byte, the cache write surviving a client that leaves, nothing committed
from a bad or broken body, flat memory and a download that does not wait for slow clients.

The upstream is an in-memory ``BlobSource`` double whose body can be paused at a byte offset (a gate), so a
test decides exactly when the download moves on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from cargohold.errors import FailureKind, UnavailableError, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Digest
from cargohold.proxy import fetch as fetch_module
from cargohold.proxy import flight as flight_module
from cargohold.proxy.election import DigestLock, LeaderState
from cargohold.proxy.fetch import BlobFeed, BlobFetcher, BlobSource, FileRegion
from cargohold.proxy.flight import FeedPart
from cargohold.storage.filesystem import FilesystemBlobStore

MiB = 1024 * 1024
PROXY = "upstream-a"


class MemorySource:
    """A blob GET that answered 200: ``size`` from Content-Length, the body from an async iterator."""

    def __init__(self, body: AsyncIterator[bytes], size: int | None) -> None:
        self.size = size
        self._body = body
        self.closed = False
        self.refusals: list[UpstreamFailedError] = []

    def iter_chunks(self) -> AsyncIterator[bytes]:
        return self._body

    def refused(self, error: UpstreamFailedError) -> None:
        self.refusals.append(error)

    async def close(self) -> None:
        self.closed = True


class Upstream:
    """Counts its opens; each answer streams ``chunks()``, paused at ``gate_at`` until ``gate`` is set."""

    def __init__(
        self,
        chunks: Callable[[], Iterator[bytes]],
        size: int | None,
        *,
        gate_at: int | None = None,
        fail_after: UpstreamFailedError | None = None,
    ) -> None:
        self.chunks = chunks
        self.size = size
        self.gate_at = gate_at
        self.gate = asyncio.Event()
        self.fail_after = fail_after
        self.opens = 0
        self.sources: list[MemorySource] = []

    async def open(self) -> tuple[str, BlobSource]:
        self.opens += 1
        source = MemorySource(self._body(), self.size)
        self.sources.append(source)
        return PROXY, source

    async def _body(self) -> AsyncIterator[bytes]:
        sent = 0
        for chunk in self.chunks():
            if self.gate_at is not None and sent >= self.gate_at:
                await self.gate.wait()
            sent += len(chunk)
            yield chunk
        if self.fail_after is not None:
            raise self.fail_after


class Commits:
    """Records on_committed calls; ``all_in`` is set once ``expected`` callers have been told."""

    def __init__(self, expected: int = 1) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.expected = expected
        self.all_in = asyncio.Event()

    def callback(self, caller: str) -> Callable[[int, str], Awaitable[None]]:
        async def on_committed(size: int, proxy_name: str) -> None:
            self.calls.append((caller, size, proxy_name))
            if len(self.calls) >= self.expected:
                self.all_in.set()

        return on_committed


def split(data: bytes, chunk: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    return lambda: (data[i : i + chunk] for i in range(0, len(data), chunk))


def blob(size: int, seed: bytes = b"blob") -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


async def read_all(feed: BlobFeed) -> bytes:
    try:
        return b"".join([chunk async for chunk in feed.chunks()])
    finally:
        await feed.aclose()


async def read_error(feed: BlobFeed) -> UpstreamFailedError:
    with pytest.raises(UpstreamFailedError) as caught:
        await read_all(feed)
    return caught.value


async def read_parts(parts: AsyncIterator[FeedPart]) -> tuple[bytes, int]:
    """What ``parts`` hands out (regions read with pread), and how many of those bytes came as regions."""
    body = bytearray()
    in_regions = 0
    async for part in parts:
        if isinstance(part, FileRegion):
            body += os.pread(part.file.fileno(), part.count, part.offset)
            in_regions += part.count
        else:
            body += part
    return bytes(body), in_regions


async def two_feeds(fetcher: BlobFetcher, data: bytes) -> tuple[BlobFeed, BlobFeed, Commits]:
    """Two feeds of one download of ``data``, and the commits they are told of."""
    digest = Digest.of(data)
    upstream = Upstream(split(data), len(data))
    commits = Commits(expected=2)
    first, second = [await fetcher.fetch(digest, upstream.open, commits.callback(n)) for n in ("1", "2")]
    return first, second, commits


async def late_feed(fetcher: BlobFetcher, data: bytes) -> BlobFeed:
    """A feed of ``data`` that has read nothing yet, once another feed read all of it and it is committed."""
    late, other, commits = await two_feeds(fetcher, data)
    assert await read_all(other) == data
    await asyncio.wait_for(commits.all_in.wait(), 10)
    return late


def files(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "data")


@pytest.fixture
async def fetcher(store: FilesystemBlobStore, tmp_path: Path) -> AsyncIterator[BlobFetcher]:
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0)
    yield fetcher
    await fetcher.close()


# --- single flight ---------------------------------------------------------------------------------


async def test_sixteen_concurrent_fetches_share_one_upstream_get_and_all_get_every_byte(
    fetcher: BlobFetcher, store: FilesystemBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locks: list[DigestLock] = []

    class CountedLock(DigestLock):
        def __init__(self, work_dir: Path, digest: Digest, scope: str = "") -> None:
            super().__init__(work_dir, digest, scope)
            locks.append(self)

    monkeypatch.setattr(fetch_module, "DigestLock", CountedLock)
    data = blob(3 * MiB + 12345)
    digest = Digest.of(data)
    upstream = Upstream(split(data), len(data), gate_at=MiB)  # pauses mid-body until all 16 have joined
    commits = Commits(expected=16)

    feeds = await asyncio.gather(
        *(fetcher.fetch(digest, upstream.open, commits.callback(f"c{i}")) for i in range(16))
    )
    assert upstream.opens == 1
    assert {(f.digest, f.size, f.proxy_name) for f in feeds} == {(digest, len(data), PROXY)}
    assert await store.stat(digest) is None  # still downloading: all 16 joined the running flight

    reads = [asyncio.create_task(read_all(feed)) for feed in feeds]
    upstream.gate.set()
    assert all(body == data for body in await asyncio.gather(*reads))
    await asyncio.wait_for(commits.all_in.wait(), 10)

    assert upstream.opens == 1
    assert len(locks) == 1  # joined in memory: only one of them even looked at the cross-process lock
    assert sorted(commits.calls) == sorted((f"c{i}", len(data), PROXY) for i in range(16))
    assert await store.stat(digest) == len(data)
    assert upstream.sources[0].closed
    assert files(tmp_path / "data" / "uploads") == []
    assert files(tmp_path / "work") == []  # lock and state files are removed after a commit


async def test_fetches_in_different_scopes_are_separate_downloads_and_share_no_bytes(
    fetcher: BlobFetcher, store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = blob(2 * MiB)
    digest = Digest.of(data)
    first = Upstream(split(data), len(data), gate_at=MiB)  # held mid-body: the first download is running
    second = Upstream(split(data), len(data))
    commits = Commits(expected=2)

    a = await fetcher.fetch(digest, first.open, commits.callback("a"), scope="r1")
    b = await fetcher.fetch(digest, second.open, commits.callback("b"), scope="r2")
    assert await read_all(b) == data
    first.gate.set()
    assert await read_all(a) == data
    await asyncio.wait_for(commits.all_in.wait(), 10)

    assert (first.opens, second.opens) == (1, 1)
    assert await store.stat(digest) == len(data)
    assert files(tmp_path / "work") == []


async def test_a_stored_blob_the_scope_may_not_reuse_is_downloaded_again(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(MiB // 2)
    digest = Digest.of(data)
    assert (
        await read_all(
            await fetcher.fetch(digest, Upstream(split(data), len(data)).open, Commits().callback("a"))
        )
        == data
    )
    refused: list[Digest] = []

    async def not_reusable(asked: Digest) -> int | None:
        refused.append(asked)
        return None

    again = Upstream(split(data), len(data))
    feed = await fetcher.fetch(digest, again.open, Commits().callback("b"), scope="r2", reusable=not_reusable)
    assert feed.proxy_name == PROXY
    assert await read_all(feed) == data
    assert again.opens == 1
    assert refused
    assert set(refused) == {digest}


async def test_a_scope_that_would_name_a_file_outside_the_work_directory_is_refused(
    fetcher: BlobFetcher,
) -> None:
    data = b"x"
    with pytest.raises(ValueError, match="scope"):
        await fetcher.fetch(
            Digest.of(data), Upstream(split(data), 1).open, Commits().callback("a"), scope="../r1"
        )


async def test_a_client_that_goes_away_midway_does_not_stop_the_cache_write(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(4 * MiB)
    digest = Digest.of(data)
    upstream = Upstream(split(data), len(data), gate_at=2 * MiB)
    commits = Commits()
    feed = await fetcher.fetch(digest, upstream.open, commits.callback("gone"))
    got_some = asyncio.Event()

    async def client() -> None:
        try:
            async for _ in feed.chunks():
                got_some.set()
        finally:
            await feed.aclose()

    task = asyncio.create_task(client())
    await asyncio.wait_for(got_some.wait(), 10)
    task.cancel()  # the client disconnects while the upstream is paused mid-body
    with pytest.raises(asyncio.CancelledError):
        await task

    upstream.gate.set()
    await asyncio.wait_for(commits.all_in.wait(), 10)
    assert commits.calls == [("gone", len(data), PROXY)]
    assert await store.read_small(digest, len(data)) == data
    assert upstream.opens == 1


async def test_a_fetch_after_the_commit_is_served_from_the_store_without_asking_upstream(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(300_000)
    digest = Digest.of(data)
    upstream = Upstream(split(data), len(data))
    first = Commits()
    assert await read_all(await fetcher.fetch(digest, upstream.open, first.callback("first"))) == data
    await asyncio.wait_for(first.all_in.wait(), 10)

    later = Commits()
    feed = await fetcher.fetch(digest, upstream.open, later.callback("later"))
    assert (feed.size, feed.proxy_name) == (len(data), "")  # "": nothing was asked of any proxy
    assert await read_all(feed) == data
    await asyncio.wait_for(later.all_in.wait(), 10)
    assert later.calls == [("later", len(data), "")]
    assert upstream.opens == 1


class HeldCommitStore(FilesystemBlobStore):
    """A store whose commits wait (in their worker thread) until ``release`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = threading.Event()

    def _move_into_place(self, spool: Path, target: Path) -> None:
        assert self.release.wait(10), "the test never released the commit"
        super()._move_into_place(spool, target)


async def test_the_last_bytes_go_out_once_verified_and_a_follow_up_waits_for_the_commit(
    tmp_path: Path,
) -> None:
    store = HeldCommitStore(tmp_path / "data")
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0)
    try:
        data = blob(MiB + 5)
        digest = Digest.of(data)
        commits = Commits()
        feed = await fetcher.fetch(digest, Upstream(split(data), len(data)).open, commits.callback("c"))
        assert await read_all(feed) == data  # the whole body, while the commit is still held
        assert await store.stat(digest) is None

        follow_up = asyncio.ensure_future(fetcher.settled(digest))
        done, _ = await asyncio.wait({follow_up}, timeout=0.2)
        assert not done, "a follow-up must wait until the blob is committed and linked"
        store.release.set()
        await asyncio.wait_for(follow_up, 10)
        assert commits.calls == [("c", len(data), PROXY)]
        assert await store.stat(digest) == len(data)
    finally:
        store.release.set()
        await fetcher.close()


class HeldStateLock(DigestLock):
    """Records every state the leader publishes; the first (the spool's) waits in its worker thread until
    ``gate`` is set, as a slow disk would hold it."""

    gate = threading.Event()
    published: list[str | None] = []  # ``failed`` of each state, in the order they landed

    def write_state(self, state: LeaderState) -> None:
        if state.failed is None:
            assert self.gate.wait(10), "the test never released the state write"
        super().write_state(state)
        self.published.append(state.failed)


@pytest.fixture
def held_state(monkeypatch: pytest.MonkeyPatch) -> type[HeldStateLock]:
    monkeypatch.setattr(HeldStateLock, "gate", threading.Event())
    monkeypatch.setattr(HeldStateLock, "published", [])
    monkeypatch.setattr(fetch_module, "DigestLock", HeldStateLock)
    return HeldStateLock


async def test_the_first_bytes_do_not_wait_for_the_state_file_and_the_commit_does(
    fetcher: BlobFetcher, store: FilesystemBlobStore, held_state: type[HeldStateLock]
) -> None:
    data = blob(MiB)
    digest = Digest.of(data)
    commits = Commits()
    feed = await fetcher.fetch(digest, Upstream(split(data), len(data)).open, commits.callback("c"))
    chunks = feed.chunks()
    first = await asyncio.wait_for(anext(chunks), 10)  # while the state file is still being written
    assert data.startswith(first)
    assert held_state.published == []
    assert await store.stat(digest) is None  # every byte is in, but the commit waits for the state

    held_state.gate.set()
    rest = b"".join([chunk async for chunk in chunks])
    await feed.aclose()
    assert first + rest == data
    await asyncio.wait_for(commits.all_in.wait(), 10)
    assert held_state.published == [None]
    assert await store.stat(digest) == len(data)


async def test_a_failure_while_the_state_file_is_being_written_is_what_followers_read_last(
    fetcher: BlobFetcher, store: FilesystemBlobStore, held_state: type[HeldStateLock]
) -> None:
    data = blob(MiB)
    digest = Digest.of(data)

    def truncated() -> Iterator[bytes]:
        yield from split(data[:300_000])()  # announces 1 MiB, sends 300 000 bytes
        held_state.gate.set()  # the spool's state lands only as the leader finds the body short

    feed = await fetcher.fetch(digest, Upstream(truncated, len(data)).open, Commits().callback("c"))
    assert (await read_error(feed)).kind is FailureKind.BAD_CONTENT
    assert held_state.published == [None, FailureKind.BAD_CONTENT.value]
    assert await store.stat(digest) is None


async def test_a_slow_client_does_not_hold_back_the_download_or_other_clients(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(6 * MiB + 7)
    slow, fast, commits = await two_feeds(fetcher, data)

    slow_parts = slow.parts()
    first = await anext(slow_parts)  # the slow client gets the first bytes, from memory, then stalls
    assert isinstance(first, bytes)
    assert await read_all(fast) == data
    await asyncio.wait_for(commits.all_in.wait(), 10)  # committed while the slow client still stalls
    assert await store.stat(Digest.of(data)) == len(data)

    rest, in_regions = await read_parts(slow_parts)
    await slow.aclose()
    assert first + rest == data
    assert in_regions == len(rest)  # behind the memory window: regions of the file, none of it read here


async def test_a_client_that_starts_reading_after_the_commit_gets_the_stored_file_as_regions(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(3 * MiB + 1)
    late = await late_feed(fetcher, data)
    try:
        assert await read_parts(late.parts()) == (data, len(data))
    finally:
        await late.aclose()


async def test_chunks_reads_the_regions_a_slow_client_is_handed(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(5 * MiB + 3)
    late = await late_feed(fetcher, data)
    chunks = [chunk async for chunk in late.chunks()]
    await late.aclose()
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= flight_module.READ_CHUNK  # read a piece at a time


# --- failures --------------------------------------------------------------------------------------


async def test_a_digest_mismatch_commits_nothing_and_every_feed_fails(
    fetcher: BlobFetcher, store: FilesystemBlobStore, tmp_path: Path
) -> None:
    wanted = blob(2 * MiB, b"wanted")
    digest = Digest.of(wanted)
    other = blob(2 * MiB, b"other")  # same size, different bytes
    upstream = Upstream(split(other), len(other), gate_at=MiB)
    commits = Commits()
    feeds = await asyncio.gather(
        *(fetcher.fetch(digest, upstream.open, commits.callback("c")) for _ in range(3))
    )
    errors = [asyncio.create_task(read_error(feed)) for feed in feeds]
    upstream.gate.set()

    for error in await asyncio.gather(*errors):
        assert error.kind is FailureKind.BAD_CONTENT
        assert error.proxy_name == PROXY
    await fetcher.close()
    assert await store.stat(digest) is None
    assert files(tmp_path / "data" / "uploads") == []
    assert commits.calls == []
    assert upstream.opens == 1


async def test_a_streamed_body_that_fails_verification_is_refused_to_its_source(
    fetcher: BlobFetcher,
) -> None:
    wanted = blob(MiB, b"wanted")
    upstream = Upstream(split(blob(MiB, b"other")), MiB)
    feed = await fetcher.fetch(Digest.of(wanted), upstream.open, Commits().callback("c"))
    assert (await read_error(feed)).kind is FailureKind.BAD_CONTENT
    await fetcher.close()
    assert [error.kind for error in upstream.sources[0].refusals] == [FailureKind.BAD_CONTENT]


class Proxies:
    """Sources in turn: the first ``bad`` of them send ``wrong`` bytes, the rest ``right`` ones."""

    def __init__(self, right: bytes, wrong: bytes, bad: int) -> None:
        self.upstreams = [Upstream(split(wrong if n < bad else right), len(right)) for n in range(bad + 1)]
        self.opened = 0

    async def open(self) -> tuple[str, BlobSource]:
        upstream = self.upstreams[min(self.opened, len(self.upstreams) - 1)]
        self.opened += 1
        _, source = await upstream.open()
        return f"proxy-{self.opened}", source


@pytest.mark.parametrize("fault", ["wrong bytes", "cut short"])
async def test_a_small_body_that_fails_verification_never_reaches_the_client_and_the_next_proxy_answers(
    store: FilesystemBlobStore, tmp_path: Path, fault: str
) -> None:
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=MiB)
    data = blob(MiB // 2)
    wrong = blob(MiB // 2, b"other") if fault == "wrong bytes" else data[: MiB // 4]
    proxies = Proxies(data, wrong, bad=2)
    commits = Commits()
    try:
        feed = await fetcher.fetch(Digest.of(data), proxies.open, commits.callback("c"))
        assert feed.proxy_name == "proxy-3"
        assert await read_all(feed) == data
        await asyncio.wait_for(commits.all_in.wait(), 10)
    finally:
        await fetcher.close()
    assert proxies.opened == 3
    refusals = [source.refusals for upstream in proxies.upstreams for source in upstream.sources]
    assert [[error.kind for error in refused] for refused in refusals] == [
        [FailureKind.BAD_CONTENT],
        [FailureKind.BAD_CONTENT],
        [],
    ]
    assert commits.calls == [("c", len(data), "proxy-3")]
    assert await store.stat(Digest.of(data)) == len(data)


async def test_a_truncated_body_commits_nothing(fetcher: BlobFetcher, store: FilesystemBlobStore) -> None:
    data = blob(1 * MiB)
    digest = Digest.of(data)
    upstream = Upstream(split(data[:600_000]), len(data))  # announces 1 MiB, ends after 600 000 bytes
    feed = await fetcher.fetch(digest, upstream.open, Commits().callback("c"))
    error = await read_error(feed)
    assert error.kind is FailureKind.BAD_CONTENT
    assert await store.stat(digest) is None


async def test_a_body_longer_than_announced_is_cut_off(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    data = blob(100_000)

    def endless() -> Iterator[bytes]:
        while True:
            yield data

    upstream = Upstream(endless, len(data))
    feed = await fetcher.fetch(Digest.of(data), upstream.open, Commits().callback("c"))
    assert (await read_error(feed)).kind is FailureKind.BAD_CONTENT
    assert await store.stat(Digest.of(data)) is None
    assert upstream.sources[0].closed


async def test_a_dropped_upstream_connection_fails_the_feeds_with_its_kind(
    fetcher: BlobFetcher, store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = blob(3 * MiB)
    digest = Digest.of(data)
    stalled = UpstreamFailedError("body stalled", kind=FailureKind.TIMEOUT, proxy_name=PROXY)
    upstream = Upstream(split(data[: 2 * MiB]), len(data), fail_after=stalled)
    feeds = await asyncio.gather(
        *(fetcher.fetch(digest, upstream.open, Commits().callback("c")) for _ in range(2))
    )
    for feed in feeds:
        error = await read_error(feed)
        assert (error.kind, error.proxy_name) == (FailureKind.TIMEOUT, PROXY)
    assert await store.stat(digest) is None
    await fetcher.close()
    assert files(tmp_path / "data" / "uploads") == []

    # The next request starts a new download, which succeeds.
    good = Upstream(split(data), len(data))
    retry = BlobFetcher(store, tmp_path / "work", hold_bytes=0)
    assert await read_all(await retry.fetch(digest, good.open, Commits().callback("c"))) == data
    await retry.close()
    assert await store.stat(digest) == len(data)


async def test_an_upstream_that_fails_before_answering_raises_from_fetch_for_every_caller(
    fetcher: BlobFetcher, store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = blob(1000)
    digest = Digest.of(data)
    opens = 0

    async def not_found() -> tuple[str, BlobSource]:
        nonlocal opens
        opens += 1
        raise UpstreamNotFoundError("no proxy has it", proxy_name=PROXY)

    # The four join the flight in their first step, before its task (scheduled after them) asks upstream.
    calls = [fetcher.fetch(digest, not_found, Commits().callback("c")) for _ in range(4)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, UpstreamNotFoundError) for result in results)
    assert opens == 1
    assert files(tmp_path / "data" / "uploads") == []  # the spool opened while it was asked is gone

    # Nothing is remembered about the failure: the next fetch asks again.
    upstream = Upstream(split(data), len(data))
    assert await read_all(await fetcher.fetch(digest, upstream.open, Commits().callback("c"))) == data
    assert upstream.opens == 1


async def test_close_cancels_a_download_that_does_not_finish(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0, close_grace=0.05)
    data = blob(2 * MiB)
    digest = Digest.of(data)
    upstream = Upstream(split(data), len(data), gate_at=MiB)  # never opened
    feed = await fetcher.fetch(digest, upstream.open, Commits().callback("c"))
    reading = asyncio.create_task(read_error(feed))
    await fetcher.close()
    assert "cancelled" in (await reading).message
    assert await store.stat(digest) is None
    assert files(tmp_path / "data" / "uploads") == []
    assert [name for name in files(tmp_path / "work") if name.endswith(".lock")] == []
    assert upstream.sources[0].closed
    with pytest.raises(UnavailableError):
        await fetcher.fetch(digest, upstream.open, Commits().callback("c"))


async def test_close_while_the_upstream_has_not_answered_leaves_no_spool(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    fetcher = BlobFetcher(store, tmp_path / "work", hold_bytes=0, close_grace=0.05)
    asked = asyncio.Event()

    async def never_answers() -> tuple[str, BlobSource]:
        asked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    fetching = asyncio.create_task(fetcher.fetch(Digest.of(b"x"), never_answers, Commits().callback("c")))
    await asked.wait()
    await fetcher.close()
    with pytest.raises(UpstreamFailedError, match="cancelled"):
        await fetching
    assert files(tmp_path / "data" / "uploads") == []
    assert [name for name in files(tmp_path / "work") if name.endswith(".lock")] == []


async def test_files_left_by_a_crashed_worker_do_not_block_a_fetch(
    fetcher: BlobFetcher, store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = blob(500_000)
    digest = Digest.of(data)
    work = tmp_path / "work"
    name = f"{digest.algorithm}-{digest.hex}"
    (work / f"{name}.lock").write_bytes(b"")  # nobody holds it: its process died
    (work / f"{name}.state").write_text(  # names a live pid and a half-written spool
        f'{{"spool_id": "fetch-stale", "size": {len(data)}, "proxy_name": "old", "pid": {os.getpid()}}}'
    )
    (tmp_path / "data" / "uploads" / "fetch-stale").write_bytes(b"garbage")
    upstream = Upstream(split(data), len(data))
    feed = await fetcher.fetch(digest, upstream.open, Commits().callback("c"))
    assert feed.proxy_name == PROXY
    assert await read_all(feed) == data
    assert upstream.opens == 1


# --- large blobs -----------------------------------------------------------------------------------


def generated(size: int, chunk: int) -> Callable[[], Iterator[bytes]]:
    """A deterministic body produced chunk by chunk, never held whole."""

    def chunks() -> Iterator[bytes]:
        for offset in range(0, size, chunk):
            block = hashlib.sha256(offset.to_bytes(8, "big")).digest() * (chunk // 32 + 1)
            yield block[: min(chunk, size - offset)]

    return chunks


def digest_of(chunks: Callable[[], Iterator[bytes]]) -> Digest:
    hasher = hashlib.sha256()
    for chunk in chunks():
        hasher.update(chunk)
    return Digest("sha256", hasher.hexdigest())


async def hash_feed(feed: BlobFeed) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    try:
        async for chunk in feed.chunks():
            hasher.update(chunk)
            size += len(chunk)
    finally:
        await feed.aclose()
    return size, hasher.hexdigest()


async def test_memory_stays_flat_with_a_64_mib_blob_and_eight_clients(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    size = 64 * MiB
    body = generated(size, 256 * 1024)
    digest = digest_of(body)
    upstream = Upstream(body, size)
    commits = Commits(expected=8)

    tracemalloc.start()
    try:
        feeds = await asyncio.gather(
            *(fetcher.fetch(digest, upstream.open, commits.callback("c")) for _ in range(8))
        )
        results = await asyncio.gather(*(hash_feed(feed) for feed in feeds))
        await asyncio.wait_for(commits.all_in.wait(), 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert results == [(size, digest.hex)] * 8
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB for a 64 MiB blob"
    assert await store.stat(digest) == size


async def test_every_client_of_a_large_blob_gets_the_exact_bytes(
    fetcher: BlobFetcher, store: FilesystemBlobStore
) -> None:
    size = 48 * MiB + 4099
    body = generated(size, 100_003)  # chunk boundaries that match nothing in the store or the feeds
    digest = digest_of(body)
    upstream = Upstream(body, size, gate_at=5 * MiB)
    commits = Commits(expected=7)
    first = await fetcher.fetch(digest, upstream.open, commits.callback("c"))
    early = asyncio.create_task(hash_feed(first))
    others = await asyncio.gather(
        *(fetcher.fetch(digest, upstream.open, commits.callback("c")) for _ in range(5))
    )
    upstream.gate.set()
    late = await fetcher.fetch(digest, upstream.open, commits.callback("c"))  # joins mid-body: from byte 0
    results = await asyncio.gather(early, *(hash_feed(feed) for feed in [*others, late]))
    assert results == [(size, digest.hex)] * 7
    await asyncio.wait_for(commits.all_in.wait(), 30)  # clients get the last bytes before the commit ends
    assert upstream.opens == 1
    assert await store.stat(digest) == size
