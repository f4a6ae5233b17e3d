"""What this machine charges for writing into the page cache: into pages the kernel hands out fresh, and into
pages a deleted file just freed. ``python -m bench.pagecache [--dir DIR] [--mib N] [--rounds N]``.

A cold pull through a caching proxy writes the whole image into page cache that stays, which a direct pull
(whose client's previous output was deleted, freeing pages for it) does not. On a virtual machine whose host
backs guest memory only once it is touched, the first write to never-used memory costs several times a write
into recycled pages; where the kernel still has recently freed memory, or on a server whose page cache has
long been full, both cost the same. So the first figure depends on what the machine did before: it explains
a run, it is not a property of cargohold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
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


def main(argv: list[str] | None = None) -> None:
    """Print the two costs, one per line."""
    parser = argparse.ArgumentParser(prog="python -m bench.pagecache", description="page-cache write costs")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary dir)")
    parser.add_argument("--mib", type=int, default=64, help="MiB per file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pagecache-", dir=args.dir) as directory:
        cost = measure_page_cache(Path(directory), args.mib, args.rounds)
    print(f"new pages (kept file):       {cost.new_ms_per_mib:.2f} ms/MiB")
    print(f"recycled pages (after rm):   {cost.recycled_ms_per_mib:.2f} ms/MiB")


if __name__ == "__main__":
    main()
