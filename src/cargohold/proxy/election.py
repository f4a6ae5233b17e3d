"""Cross-process election of one downloader per blob digest among the worker processes of one server.

Owns the two small files a digest's download leaves in the fetcher's ``work_dir``:

``[<scope>-]<algorithm>-<hex>.lock``
    An ``fcntl.flock`` lock file. The process holding an exclusive lock on it is the **leader**: the only one
    that asks an upstream for the blob. Locks are only ever tried (``LOCK_NB``), never waited on, so a thread
    is never parked in the kernel; followers re-try on a short interval. A leader unlinks the file before it
    lets go, so the directory does not fill with one file per blob ever fetched; a process that locked a file
    which has since been unlinked notices (its inode is no longer the path's) and starts over on the
    current file. The kernel releases the lock when a process dies, so a crashed leader never blocks anyone.

``[<scope>-]<algorithm>-<hex>.state``
    JSON written (atomically: temporary file + rename) by the leader once its upstream answered: the upload
    id of its spool, the Content-Length, the proxy's name and its pid. Followers in other processes read it to
    find the spool they tail. A failing leader rewrites it with ``failed`` and the failure kind before letting
    go; a successful one removes it. A new leader removes any state file it finds, and readers ignore a
    state whose process is gone, so a file left by a crash is never trusted.

Every method here makes small file-system calls in the local work directory and never waits on a lock.
The fetcher tries the lock inline (``try_acquire``, ``clear_state``: a few metadata calls, cheaper than a
worker-thread hop); the state-file writes and reads go through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from cargohold.models import Digest

MAX_STATE_BYTES: Final = 4096


@dataclass(frozen=True)
class LeaderState:
    """What a leader tells followers in other processes about its download."""

    spool_id: str
    size: int | None
    proxy_name: str
    pid: int
    failed: str | None = None  # a FailureKind value once the leader gave up

    @property
    def running(self) -> bool:
        return self.failed is None


class DigestLock:
    """The lock and state file of one digest, as one process sees them (one instance per download)."""

    def __init__(self, work_dir: Path, digest: Digest, scope: str = "") -> None:
        name = f"{digest.algorithm}-{digest.hex}"
        if scope:
            name = f"{scope}-{name}"
        self.lock_path = work_dir / f"{name}.lock"
        self.state_path = work_dir / f"{name}.state"
        self._fd: int | None = None
        self.held = False
        self.holder_ino: int | None = None  # inode of the lock file another process held at our last try

    def try_acquire(self) -> bool:
        """Try once to become the leader; True when this process now holds the live lock file.

        False means another process holds it; ``holder_ino`` then names the file it holds, so a caller can
        tell "still the same leader" from "that leader finished and another took over".
        """
        if self.held:
            return True
        for _ in range(100):  # each round means another leader finished meanwhile; 100 is generous
            if self._fd is None:
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.holder_ino = os.fstat(self._fd).st_ino
                return False
            if self._is_live():
                self.held = True
                self.holder_ino = None
                return True
            # We locked a file its leader unlinked on the way out: that leader is done; use the current file.
            os.close(self._fd)
            self._fd = None
        raise OSError(f"could not settle on a lock file at {self.lock_path}")

    def release(self) -> None:
        """Give up the lock (and, as leader, remove the lock file first). Safe to call in any state."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.held:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.lock_path)
        finally:
            self.held = False
            os.close(fd)  # closing the last descriptor releases the flock

    # --- state file -----------------------------------------------------------------------------

    def write_state(self, state: LeaderState) -> None:
        """Publish ``state`` atomically (leader only)."""
        temporary = self.state_path.with_name(f"{self.state_path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(state)), encoding="utf-8")
        os.replace(temporary, self.state_path)

    def clear_state(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.state_path)

    def read_state(self) -> LeaderState | None:
        """The state a leader published; None when there is none, it is unreadable or its process is gone."""
        try:
            with self.state_path.open("rb") as file:
                raw = file.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(raw) > MAX_STATE_BYTES:
            return None
        try:
            data = json.loads(raw)
            state = LeaderState(
                spool_id=str(data["spool_id"]),
                size=None if data["size"] is None else int(data["size"]),
                proxy_name=str(data["proxy_name"]),
                pid=int(data["pid"]),
                failed=None if data.get("failed") is None else str(data["failed"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return state if _process_exists(state.pid) else None

    # --- internals ------------------------------------------------------------------------------

    def _is_live(self) -> bool:
        """Whether our descriptor still refers to the file at ``lock_path``."""
        assert self._fd is not None
        try:
            on_disk = os.stat(self.lock_path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._fd)
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
