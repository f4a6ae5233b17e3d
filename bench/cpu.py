"""CPU time of a server process and its descendants, read from ``/proc/<pid>/stat``.

A cold pull through a caching proxy costs the proxy's CPU on top of the upstream's and the client's; on a
machine with few cores that time lands on the pull's critical path, so the benchmark reports it per pull.
"""

from __future__ import annotations

import os

from bench.memory import PROC, process_tree

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    """User plus system time of one process, in clock ticks (0 when it is gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0], utime fields[11]
    return int(fields[11]) + int(fields[12])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants."""
    return sum(_cpu_ticks(p) for p in process_tree(pid)) / _TICKS_PER_S
