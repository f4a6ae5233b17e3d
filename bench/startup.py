"""Start-up cost, cargohold against Distribution's proxy mode: the time from starting the server process to
its first answered request, the CPU time it used until then, and its peak memory (``VmHWM``) at that moment.

Each server is configured as in the other phases (cargohold with the repository ``bench`` proxying the
upstream, one worker; Distribution with ``proxy.remoteurl``), in a directory of its own. The first start
runs on an empty directory (cargohold migrates its database, writes its key and hashes the first admin's
password); the restarts that follow run on the same directory, as an operator's restart does. A start is
timed from ``Popen`` to the first HTTP answer of ``GET /v2/`` (any status), polled every 5 ms on a fresh
connection; the process is then stopped with SIGTERM. The restarts run one after the other, never beside
another server's start.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from tests.support.distribution import distribution_binary
from tests.support.processes import child_env, free_port
from tests.support.server import ADMIN_PASSWORD, cargohold_executable, write_config

from bench.cpu import tree_cpu_seconds
from bench.memory import vm_hwm_bytes

START_TIMEOUT_S = 60.0
POLL_S = 0.005


@dataclass(frozen=True)
class Start:
    """One start: seconds to the first answer, the CPU seconds the server used until then (a figure a busy
    machine changes far less than the wall time), and VmHWM (bytes) then."""

    seconds: float
    cpu_seconds: float
    hwm_bytes: int


@dataclass(frozen=True)
class StartupFigures:
    """A first start and the restarts after it."""

    first: Start
    restarts: list[Start]

    @property
    def restart_s(self) -> float:
        """Median time to the first answer of a restart."""
        return statistics.median(start.seconds for start in self.restarts)

    @property
    def restart_cpu_s(self) -> float:
        """Median CPU time to the first answer of a restart."""
        return statistics.median(start.cpu_seconds for start in self.restarts)

    @property
    def restart_hwm_bytes(self) -> int:
        """Highest VmHWM of the restarts at their first answer."""
        return max(start.hwm_bytes for start in self.restarts)


class StartupError(RuntimeError):
    """A server did not answer within ``START_TIMEOUT_S``; the message carries its output."""


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/v2/")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def timed_start(argv: list[str], port: int, *, cwd: Path, env: dict[str, str], log: Path) -> Start:
    """Start ``argv``, wait for its first answer on ``port``, read its VmHWM, stop it."""
    with log.open("ab") as output:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        while not _answers(port):
            if process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
                raise StartupError(f"{argv[0]} did not answer: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(POLL_S)
        seconds = time.monotonic() - started
        return Start(seconds, tree_cpu_seconds(process.pid), vm_hwm_bytes(process.pid))
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(starter: Callable[[Path, int], Start], base: Path, restarts: int) -> StartupFigures:
    """A first start on the empty directory ``base``, then ``restarts`` restarts on what it left."""
    base.mkdir(parents=True, exist_ok=True)
    first = starter(base, free_port())
    return StartupFigures(first, [starter(base, free_port()) for _ in range(restarts)])


def start_cargohold(upstream_url: str) -> Callable[[Path, int], Start]:
    """A starter of ``cargohold serve`` (one worker) with the repository ``bench`` proxying the upstream."""

    def start(base: Path, port: int) -> Start:
        repositories = [
            {"name": "bench", "visibility": "public", "proxies": [{"name": "upstream", "url": upstream_url}]}
        ]
        config = write_config(base / "config.yml", repositories)
        argv = [
            str(cargohold_executable()), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(base / "data"), "--workers", "1",
        ]  # fmt: skip
        env = child_env({"CARGOHOLD_ADMIN_PASSWORD": ADMIN_PASSWORD}, drop_prefixes=("CARGOHOLD_",))
        return timed_start(argv, port, cwd=base, env=env, log=base / "server.log")

    return start


def start_distribution_proxy(upstream_url: str) -> Callable[[Path, int], Start]:
    """A starter of Distribution in proxy mode in front of the upstream."""

    def start(base: Path, port: int) -> Start:
        config = {
            "version": 0.1,
            "log": {"level": "info"},
            "storage": {"filesystem": {"rootdirectory": str(base / "storage")}},
            "http": {"addr": f"127.0.0.1:{port}"},
            "proxy": {"remoteurl": upstream_url},
        }
        path = base / "config.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        env = child_env(drop_prefixes=("REGISTRY_",))
        argv = [distribution_binary(), "serve", str(path)]
        return timed_start(argv, port, cwd=base, env=env, log=base / "server.log")

    return start


def describe(figures: StartupFigures) -> str:
    """One progress line."""
    mib = 1024 * 1024
    return (
        f"first start {figures.first.seconds:.2f} s (VmHWM {figures.first.hwm_bytes / mib:.0f} MiB), "
        f"restart {figures.restart_s:.2f} s ({figures.restart_cpu_s:.2f} s CPU), "
        f"median of {len(figures.restarts)} "
        f"(VmHWM up to {figures.restart_hwm_bytes / mib:.0f} MiB)"
    )
