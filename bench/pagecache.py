"""What this machine charges for writing into the page cache: into memory never used for it, and into memory
just freed by a deleted file.

A cold pull through a caching proxy writes the whole image into new page cache, which a direct pull (whose
client writes into pages its previous, deleted output freed) does not. On a virtual machine that hands its
guest memory back to the host while it is free (free page reporting, as on Firecracker), the first write to
such memory costs several times more than a write into recycled pages; on a server whose page cache has
long been full, every write is into recycled pages. The benchmark prints both figures beside the pulls.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class PageCacheCost:
    """Milliseconds per MiB written (write calls only, no fsync), medians over the rounds."""

    new_ms_per_mib: float
    recycled_ms_per_mib: float


def _timed_write(path: Path, block: bytes, mib: int) -> float:
    """Seconds to write ``mib`` MiB of ``block`` into a new file at ``path`` (kept)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        started = time.perf_counter()
        for _ in range(mib):
            os.write(fd, block)
        return time.perf_counter() - started
    finally:
        os.close(fd)


def measure_page_cache(directory: Path, mib: int = 64, rounds: int = 3) -> PageCacheCost:
    """Each round writes a file that is kept (new page cache), then deletes a scratch file and writes another
    (recycled pages); ``directory`` is emptied of the files afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MIB)
    new: list[float] = []
    recycled: list[float] = []
    kept: list[Path] = []
    scratch = directory / "scratch"
    try:
        _timed_write(scratch, block, mib)
        for index in range(rounds):
            kept.append(directory / f"kept-{index}")
            new.append(_timed_write(kept[-1], block, mib))
            scratch.unlink()
            recycled.append(_timed_write(scratch, block, mib))
    finally:
        for path in [*kept, scratch]:
            path.unlink(missing_ok=True)
    return PageCacheCost(
        new_ms_per_mib=statistics.median(new) * 1000 / mib,
        recycled_ms_per_mib=statistics.median(recycled) * 1000 / mib,
    )
