"""Whether the blob store can take writes: a real small write and removal in its spool area, and the free
space of its filesystem against a reserve. Both are plain, blocking calls for a worker thread (the
readiness endpoint bounds how long it waits for them).

Each returns None when all is well, or a short reason fit for a public health answer: no path and no
exception text beyond the system's name for the error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from pathlib import Path
from typing import Final

PROBE_BYTES: Final = b"cargohold readiness probe\n"


def write_probe(directory: Path) -> str | None:
    """Create, write, close and remove a small file in ``directory``; the reason when any step fails."""
    path = directory / f".ready-{uuid.uuid4().hex}"
    try:
        with path.open("xb") as file:
            file.write(PROBE_BYTES)
            file.flush()
    except OSError as error:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return f"cannot write: {_reason(error)}"
    try:
        path.unlink()
    except OSError as error:
        return f"cannot remove a file it wrote: {_reason(error)}"
    return None


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem of ``directory``."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def free_space_problem(directory: Path, reserve_bytes: int) -> tuple[int | None, str | None]:
    """The free bytes (None when they cannot be read) and the reason when they are at or below
    ``reserve_bytes`` (a reserve of 0 only fails a filesystem with nothing left)."""
    try:
        free = free_bytes(directory)
    except OSError as error:
        return None, f"cannot read the free space: {_reason(error)}"
    if free <= reserve_bytes:
        return free, f"{free} bytes free, at or below the reserve of {reserve_bytes}"
    return free, None


def _reason(error: OSError) -> str:
    return error.strerror or errno.errorcode.get(error.errno or 0, type(error).__name__)
