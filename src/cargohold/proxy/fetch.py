"""The single-flight tee that fills the blob cache from an upstream while clients read (docs/pull-flow.md).

``BlobFetcher.fetch`` starts (or joins) the one download of a digest and returns a ``BlobFeed`` as soon as the
upstream answered. The download runs in a detached task that a client's disconnect does not cancel: it
receives the body at upstream speed, hashing each chunk as it arrives, keeps the newest chunks in memory for
the feeds that keep up (``cargohold.proxy.flight``), and has ``cargohold.proxy.spooler`` write them into an
upload spool of the blob store in the background. Once the digest and the Content-Length match, feeds may
hand out the last bytes; the spool is then fsynced and committed, and every caller's ``on_committed`` runs.

Single-flight holds within a process (one ``Flight`` per digest, joined by every concurrent caller) and across
the worker processes of one server (a per-digest ``flock`` in ``work_dir`` elects one leader; the others tail
its spool: ``cargohold.proxy.election``). A follower process learns of progress by polling the spool's size
on a short interval, and of the outcome when the lock is let go: blob committed means success, no blob means
failure (a follower whose callers were still waiting for an answer then tries once more, as leader).

Callers need not check the store first: a fetch of a digest that is already committed answers at once from the
store, with ``proxy_name == ""`` (nothing was asked of any proxy), and ``on_committed`` still runs. The same
empty name is reported when another process committed the blob before this one saw which proxy gave it.
Only the first concurrent caller's ``open_source`` is used; the others join its download.

A fetch may name a ``scope`` (the pull-through service uses the repository): downloads of one digest in
different scopes are separate flights with separate leaders, and ``reusable`` decides whether a blob already
in the store counts as fetched for the scope. Stored bytes are then shared only where the caller allows it,
and a download that joins or waits for another is always one of its own scope: one repository never receives
bytes that its own proxies did not send (or that it could read anyway). A leader runs the ``on_committed``
callbacks before it lets go of the lock, so a follower in another process finds them done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

from cargohold.errors import (
    CargoholdError,
    FailureKind,
    UnavailableError,
    UpstreamFailedError,
)
from cargohold.models import Digest
from cargohold.proxy.election import DigestLock, LeaderState
from cargohold.proxy.flight import BlobFeed, FileRegion, Flight, OnCommitted
from cargohold.proxy.sources import BlobSource, HeldBody, read_verified, receive_body
from cargohold.proxy.spooler import Spooler
from cargohold.storage.base import BlobStore, BlobWriter

__all__ = ["BlobFeed", "BlobFetcher", "BlobSource", "FileRegion", "OnCommitted", "OpenSource"]

log = logging.getLogger(__name__)

POLL_MIN: Final = 0.005  # seconds between looks at another process's download while it moves
POLL_MAX: Final = 0.05  # ... and while it does not
STALL_TIMEOUT: Final = 120.0  # seconds another process's download may show no progress before we give up
HOLD_BYTES: Final = 4 * 1024 * 1024  # bodies up to this size are verified before their first byte goes out
HOLD_ATTEMPTS: Final = 8  # sources asked in turn when small bodies keep failing verification
CLOSE_GRACE: Final = 30.0  # seconds close() lets running downloads finish before cancelling them
_SCOPE: Final = re.compile(r"[A-Za-z0-9-]{0,64}")


OpenSource = Callable[[], Awaitable[tuple[str, BlobSource]]]
Reusable = Callable[[Digest], Awaitable[int | None]]
"""The size of a stored blob that counts as fetched for a scope, or None (the default: ``BlobStore.stat``)."""


class BlobFetcher:
    """Downloads blobs into ``store``, one download per digest across this process and its siblings."""

    def __init__(
        self,
        store: BlobStore,
        work_dir: Path,
        *,
        stall_timeout: float = STALL_TIMEOUT,
        close_grace: float = CLOSE_GRACE,
        hold_bytes: int = HOLD_BYTES,
    ) -> None:
        self._store = store
        self._hold_bytes = hold_bytes
        self._work_dir = work_dir
        self._stall_timeout = stall_timeout
        self._close_grace = close_grace
        self._flights: dict[tuple[str, Digest], Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # strong references to running downloads
        self._closed = False
        work_dir.mkdir(parents=True, exist_ok=True)

    async def fetch(
        self,
        digest: Digest,
        open_source: OpenSource,
        on_committed: OnCommitted,
        *,
        scope: str = "",
        reusable: Reusable | None = None,
    ) -> BlobFeed:
        """Start or join the download of ``digest`` in ``scope``; return a feed once the upstream answered.

        Raises what ``open_source`` raised (an UpstreamError or RegistryError) when no upstream answered.
        ``on_committed(size, proxy_name)`` runs once the blob is committed, even if this caller went away.
        ``scope`` must be a short token of letters, digits and dashes (it names files).
        """
        if self._closed:
            raise UnavailableError("the server is shutting down")
        if not _SCOPE.fullmatch(scope):
            raise ValueError(f"invalid fetch scope {scope[:40]!r}")
        key = (scope, digest)
        flight = self._flights.get(key)
        if flight is None:
            flight = Flight(digest)
            self._flights[key] = flight
            lock = DigestLock(self._work_dir, digest, scope)
            task = asyncio.get_running_loop().create_task(
                self._run(key, flight, lock, open_source, reusable or self._store.stat),
                name=f"fetch {digest}",
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        flight.callbacks.append(on_committed)
        await flight.answered.wait()
        if flight.answer_error is not None:
            raise flight.answer_error
        return BlobFeed(flight, self._store)

    async def settled(self, digest: Digest, scope: str = "") -> None:
        """Wait while this process's download of ``digest`` has verified its bytes but is still committing
        and linking them: a client that already holds the whole body then finds the blob where it asked."""
        flight = self._flights.get((scope, digest))
        if flight is not None and flight.verified_size is not None:
            await flight.settled()

    async def close(self) -> None:
        """Refuse new fetches, let running downloads finish for a grace period, then cancel the rest."""
        self._closed = True
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._close_grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --- one download ---------------------------------------------------------------------------

    async def _run(
        self,
        key: tuple[str, Digest],
        flight: Flight,
        lock: DigestLock,
        open_source: OpenSource,
        reusable: Reusable,
    ) -> None:
        try:
            try:
                await self._settle(flight, lock, open_source, reusable)
            except asyncio.CancelledError:
                flight.fail(UpstreamFailedError("the download was cancelled", kind=FailureKind.PROTOCOL))
                raise
            except UpstreamFailedError as error:
                flight.fail(error)
            except Exception as error:
                log.exception("downloading %s failed", flight.digest)
                flight.fail(_local_failure(error))
            if flight.stored_size is not None:
                # Still registered and still leading: a caller joining now is notified too (the loop sees
                # callbacks appended while it runs), and a follower in another process finds them done.
                await self._notify(flight, flight.stored_size)
                flight.finish()
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            lock.release()

    async def _settle(
        self, flight: Flight, lock: DigestLock, open_source: OpenSource, reusable: Reusable
    ) -> None:
        """Bring ``flight`` to an outcome: committed, failed, or failed before the source answered."""
        size = await reusable(flight.digest)
        if size is not None:
            flight.succeed(size)
            return
        retries = 1
        while True:
            if _acquire_cleared(lock):
                size = await reusable(flight.digest)  # a leader before us may have committed it
                if size is not None:
                    flight.succeed(size)
                else:
                    await self._lead(flight, lock, open_source)
                return
            spool_id = await self._follow(flight, lock)
            size = await reusable(flight.digest)
            if size is not None:
                flight.succeed(size)
                return
            if flight.answered.is_set() or retries == 0:
                raise await self._remote_failure(flight, lock, spool_id)
            retries -= 1

    async def _lead(self, flight: Flight, lock: DigestLock, open_source: OpenSource) -> None:
        """Ask the upstream, copy its body into a spool and commit it (this process holds the lock).

        The spool is opened while the upstream is being asked, and this process's feeds start as soon as it
        answered; followers in other processes learn of the spool from the state file, written in a worker
        thread while the body is already coming in (it lands before the commit or the failure replaces it)."""
        spool_id = f"fetch-{uuid.uuid4().hex}"
        opening = asyncio.ensure_future(self._store.start_upload(spool_id, caller_verifies=True))
        try:
            proxy_name, source = await self._first_good_source(flight.digest, open_source)
        except Exception as error:
            await _discard(opening)
            flight.fail_before_answer(error)
            return
        except BaseException:
            await _discard(opening)
            raise
        state = LeaderState(spool_id=spool_id, size=source.size, proxy_name=proxy_name, pid=os.getpid())
        writer: BlobWriter | None = None
        publishing: asyncio.Future[None] | None = None
        try:
            writer = await opening
            flight.answer(self._store.upload_path(spool_id), source.size, proxy_name, downloading=True)
            publishing = asyncio.ensure_future(asyncio.to_thread(lock.write_state, state))
            spooler = Spooler(writer, flight)
            try:
                flight.verify(await receive_body(source, spooler, flight, proxy_name))
                await spooler.finish()
            finally:
                await spooler.close()
            await publishing
            size = await writer.commit(flight.digest, source.size)
            writer = None
        except BaseException as error:
            if isinstance(error, UpstreamFailedError):
                source.refused(error)
            if publishing is not None:  # let it land first, so the failure below overwrites it
                await asyncio.gather(publishing, return_exceptions=True)
            kind = error.kind if isinstance(error, UpstreamFailedError) else FailureKind.PROTOCOL
            with contextlib.suppress(OSError):  # tell followers why; never mask the error itself
                lock.write_state(replace(state, failed=kind.value))
            if writer is not None:
                await writer.abort()
            else:
                await _discard(opening)  # it failed, or we were cancelled while it was being opened
            raise
        finally:
            await source.close()
        lock.clear_state()
        flight.succeed(size)

    async def _first_good_source(self, digest: Digest, open_source: OpenSource) -> tuple[str, BlobSource]:
        """The first answering source whose body may be streamed. A body of known size up to ``hold_bytes``
        is read whole and verified first: a bad one is refused (so ``open_source`` asks another proxy next)
        and the next source is tried, so the client never sees it. Raises what ``open_source`` raises."""
        for _ in range(HOLD_ATTEMPTS - 1):
            proxy_name, source = await open_source()
            if source.size is None or source.size > self._hold_bytes:
                return proxy_name, source
            try:
                held = await read_verified(source, digest, proxy_name)
            except UpstreamFailedError as error:
                source.refused(error)
                continue
            finally:
                await source.close()
            return proxy_name, HeldBody(held)
        return await open_source()

    async def _follow(self, flight: Flight, lock: DigestLock) -> str | None:
        """Tail another process's download until its leader lets go; return the spool id we tailed."""
        loop = asyncio.get_running_loop()
        watched = lock.holder_ino
        tailed: str | None = None
        last_size = -1
        interval = POLL_MIN
        deadline = loop.time() + self._stall_timeout
        while True:
            await asyncio.sleep(interval)
            if await asyncio.to_thread(lock.try_acquire) or lock.holder_ino != watched:
                return tailed
            moved = False
            if not flight.answered.is_set():
                state = await asyncio.to_thread(lock.read_state)
                if state is not None and state.running and self._valid_spool(state.spool_id):
                    tailed = state.spool_id
                    flight.answer(self._store.upload_path(tailed), state.size, state.proxy_name)
                    moved = True
            if flight.spool_path is not None:
                size = await asyncio.to_thread(_file_size, flight.spool_path)
                if size is not None and size > last_size:
                    last_size = size
                    flight.progressed()
                    moved = True
            if moved:
                interval = POLL_MIN
                deadline = loop.time() + self._stall_timeout
            else:
                interval = min(interval * 2, POLL_MAX)
            if loop.time() > deadline:
                raise UpstreamFailedError(
                    f"the download of {flight.digest} by another worker process made no progress "
                    f"for {self._stall_timeout:g} s",
                    kind=FailureKind.TIMEOUT,
                    proxy_name=flight.proxy_name,
                )

    async def _remote_failure(
        self, flight: Flight, lock: DigestLock, spool_id: str | None
    ) -> UpstreamFailedError:
        """The error for a download another process gave up, with its failure kind when it left one."""
        state = await asyncio.to_thread(lock.read_state)
        kind = FailureKind.BAD_CONTENT
        if state is not None and state.spool_id == spool_id and state.failed is not None:
            with contextlib.suppress(ValueError):
                kind = FailureKind(state.failed)
        return UpstreamFailedError(
            f"the download of {flight.digest} by another worker process failed ({kind.value})",
            kind=kind,
            proxy_name=flight.proxy_name,
        )

    def _valid_spool(self, spool_id: str) -> bool:
        try:
            self._store.upload_path(spool_id)
        except CargoholdError:
            return False
        return True

    async def _notify(self, flight: Flight, size: int) -> None:
        for callback in flight.callbacks:
            try:
                await callback(size, flight.proxy_name)
            except Exception:
                log.exception("on_committed for %s failed", flight.digest)


async def _discard(opening: asyncio.Future[BlobWriter]) -> None:
    """Remove the spool opened for an upstream that did not answer. (Not cancelled: the worker thread
    opening it would create the file all the same.)"""
    try:
        writer = await opening
    except Exception:
        return  # it could not be opened: nothing to remove
    await writer.abort()


def _acquire_cleared(lock: DigestLock) -> bool:
    """Try to become the leader; as leader, clear what a previous leader left. Run inline: a non-blocking
    ``flock`` and an unlink in the local work directory, cheaper than the hop to a worker thread."""
    if not lock.try_acquire():
        return False
    lock.clear_state()
    return True


def _file_size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _local_failure(error: Exception) -> UpstreamFailedError:
    """A failure on our side (disk full, permissions) still ends every feed with the one error type."""
    return UpstreamFailedError(f"caching the blob failed: {error}", kind=FailureKind.PROTOCOL)
