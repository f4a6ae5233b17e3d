"""A server with several workers keeps serving when one of them dies: the parent starts a new worker in
place (and says so in the log), and still stops cleanly on SIGTERM (the real ``cargohold serve``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.support.accounts import call
from tests.support.fixtures import CargoholdFactory


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def workers_of(parent: int, count: int, deadline_s: float = 60.0) -> set[int]:
    """Wait (bounded) until ``parent`` has ``count`` worker processes besides helpers; return their pids."""
    give_up = time.monotonic() + deadline_s
    while True:
        pids = {
            pid for pid in children(parent) if "cargohold" in _cmdline(pid) or "spawn_main" in _cmdline(pid)
        }
        if len(pids) >= count or time.monotonic() > give_up:
            return pids
        time.sleep(0.05)


def serving(url: str, headers: dict[str, str], deadline_s: float = 60.0) -> list[int]:
    """Ten answers of ``/v2/`` in a row, once the server accepts connections again (bounded wait)."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            return [call(f"{url}/v2/", headers=headers).status for _ in range(10)]
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_worker_that_dies_is_replaced_and_the_server_keeps_serving(
    cargohold_factory: CargoholdFactory,
) -> None:
    server = cargohold_factory(extra_args=("--workers", "2"))
    parent = server.service.process.pid
    before = workers_of(parent, 2)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    give_up = time.monotonic() + 60
    after = workers_of(parent, 2)
    while (victim in after or len(after) < 2) and time.monotonic() < give_up:
        time.sleep(0.05)
        after = workers_of(parent, 2)
    assert victim not in after
    assert len(after) == 2
    answered = serving(server.url, server.admin_authorization())  # the new worker may still be starting
    assert answered == [200] * 10
    assert "exited with code -9; starting a new one" in server.service.log_text()
    assert server.stop() == 0
