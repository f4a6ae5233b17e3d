"""The files of the filesystem blob store as garbage collection sees them: ``FilesystemSweeper``
(``SweepableStore``).

It lists committed blobs, upload and fetch spools (``uploads/``), small-write spools (``tmp/``) and the lock
and state files a fetcher leaves in its work directory, each with its size and modification time, and removes
one at a time after re-reading that time, so a file touched since it was listed is kept. A fetcher's lock
file is removed only while this process holds its ``flock`` itself (nobody else does), and its state files
only while nobody holds the lock; a fetcher that opened the file just before notices the unlink and starts
over (see ``cargohold.proxy.election``). Every disk call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from cargohold.models import Digest
from cargohold.storage.base import StoredFile
from cargohold.storage.filesystem import FilesystemBlobStore

_HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}
_HEX_RE: Final = re.compile(r"[0-9a-f]+", re.ASCII)
_WORK_FILE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,200}\.(lock|state|state\.[0-9]+\.tmp)", re.ASCII)


class FilesystemSweeper:
    """``SweepableStore`` over a ``FilesystemBlobStore``'s root."""

    def __init__(self, store: FilesystemBlobStore) -> None:
        self._store = store
        self._blobs = store.root / "blobs"
        self._areas = {"uploads": store.root / "uploads", "tmp": store.root / "tmp"}

    async def list_blobs(self) -> AsyncIterator[StoredFile]:
        for algorithm, length in _HEX_LENGTHS.items():
            for prefix in await asyncio.to_thread(_names, self._blobs / algorithm):
                if len(prefix) != 2:
                    continue
                directory = self._blobs / algorithm / prefix
                for name, size, mtime in await asyncio.to_thread(files_in, directory):
                    if len(name) == length and name.startswith(prefix) and _HEX_RE.fullmatch(name):
                        yield StoredFile(f"{algorithm}:{name}", size, mtime)

    async def remove_blob(self, digest: Digest, idle_before: float) -> int | None:
        return await asyncio.to_thread(remove_if_idle, self._store.blob_path(digest), idle_before)

    async def list_spools(self) -> list[StoredFile]:
        spools: list[StoredFile] = []
        for area, directory in self._areas.items():
            for name, size, mtime in await asyncio.to_thread(files_in, directory):
                spools.append(StoredFile(name, size, mtime, area))
        return spools

    async def remove_spool(self, spool: StoredFile, idle_before: float) -> int | None:
        directory = self._areas.get(spool.area)
        if directory is None or not _plain_name(spool.name):
            return None
        return await asyncio.to_thread(remove_if_idle, directory / spool.name, idle_before)

    async def list_work_files(self, work_dir: Path) -> list[StoredFile]:
        return await asyncio.to_thread(unheld_work_files, work_dir)

    async def remove_work_file(self, work_dir: Path, name: str, idle_before: float) -> int | None:
        if not _WORK_FILE_RE.fullmatch(name):
            return None
        return await asyncio.to_thread(remove_work_file, work_dir, name, idle_before)


# --- blocking helpers (run in worker threads) ---------------------------------------------------------


def _names(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entry.name for entry in entries)
    except FileNotFoundError:
        return []


def files_in(directory: Path) -> list[tuple[str, int, float]]:
    """(name, size, mtime) of the regular files in ``directory``, by name."""
    found = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                found.append((entry.name, stat.st_size, stat.st_mtime))
    except FileNotFoundError:
        return []
    return sorted(found)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def remove_if_idle(path: Path, idle_before: float) -> int | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    if stat.st_mtime >= idle_before:
        return None
    try:
        os.unlink(path)
    except FileNotFoundError:
        return None
    return stat.st_size


def is_work_file(name: str) -> bool:
    """Whether ``name`` is a fetcher's lock or state file (so a removal may touch it)."""
    return bool(_WORK_FILE_RE.fullmatch(name))


def unheld_work_files(work_dir: Path) -> list[StoredFile]:
    """The fetcher's lock and state files in ``work_dir`` whose lock no process holds (blocking)."""
    found = []
    for name, size, mtime in files_in(work_dir):
        if _WORK_FILE_RE.fullmatch(name) and not _lock_held(work_dir / _lock_name(name)):
            found.append(StoredFile(name, size, mtime, "work"))
    return found


def _lock_name(name: str) -> str:
    return f"{name.split('.', 1)[0]}.lock"


def _lock_held(lock_path: Path) -> bool:
    """Whether another process holds the ``flock`` of ``lock_path`` (False when there is no such file)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases our lock, if we took it
    return False


def remove_work_file(work_dir: Path, name: str, idle_before: float) -> int | None:
    """Remove one stale work file (``is_work_file(name)``) while holding its digest's lock file locked
    ourselves (so no fetcher leads that digest meanwhile); keep it when a fetcher holds that lock or it
    changed since ``idle_before``. Blocking."""
    lock_path = work_dir / _lock_name(name)
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None  # a state file without its lock file: no fetcher leads this digest
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
        return remove_if_idle(work_dir / name, idle_before)
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
