"""Resident memory of a server process and its descendants, sampled from ``/proc`` in a background thread.

``RssSampler`` is a context manager: while it is open it sums ``VmRSS`` over the process and every
descendant (worker processes count) every ``interval`` seconds and keeps the highest sum; descendants are
looked up again every ``tree_every`` samples, as scanning ``/proc`` costs more than reading one status file.
``vm_hwm_bytes`` reads a process's lifetime peak (``VmHWM``), which includes all before the sampled phase.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def _status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (0 when the process or the field is gone)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _parent_map() -> dict[int, int]:
    """``pid -> parent pid`` for every process visible in ``/proc``."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_map().items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_bytes(pids: list[int]) -> int:
    """Sum of ``VmRSS`` over ``pids``, in bytes."""
    return sum(_status_kib(p, "VmRSS") for p in pids) * 1024


def vm_hwm_bytes(pid: int) -> int:
    """Lifetime peak resident size of one process, in bytes."""
    return _status_kib(pid, "VmHWM") * 1024


class RssSampler:
    """Samples the resident size of a process tree until closed; ``peak_bytes`` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.02, tree_every: int = 25) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._tree_every = tree_every
        self._tree: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _sample(self) -> None:
        if self.samples % self._tree_every == 0:
            self._tree = process_tree(self.pid)
        self.peak_bytes = max(self.peak_bytes, rss_bytes(self._tree))
        self.samples += 1

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
