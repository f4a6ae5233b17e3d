"""Long-running helper processes for tests: free ports, a log file per process, readiness, teardown.

A ``ServiceProcess`` is a subprocess whose stdout and stderr go to one log file under the test's tmp dir.
``start_service`` launches it on a free port, polls an HTTP URL until a readiness predicate holds (a polling
loop with a deadline: readiness, not a sleep used as synchronisation), and retries on a fresh port if the
process died before it was ready (another process may have taken the port in between). ``stop`` sends
SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Probe:
    """What a readiness poll saw: HTTP status and headers (status 0: no HTTP answer yet)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


def probe(
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 2.0,
    headers: Mapping[str, str] | None = None,
) -> Probe:
    """GET ``url`` once (with ``headers``); HTTP errors are answers too, connection failures give status 0."""
    request = urllib.request.Request(url, method="GET", headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:  # noqa: S310
            return Probe(response.status, dict(response.headers.items()))
    except urllib.error.HTTPError as error:
        return Probe(error.code, dict(error.headers.items()))
    except (OSError, urllib.error.URLError):
        return Probe(0)


@dataclass
class ServiceProcess:
    """A running helper process and the file its output goes to."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    port: int

    def log_text(self, limit: int = 200_000) -> str:
        """The tail of the process's combined stdout/stderr."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", errors="replace")

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def describe(self) -> str:
        """Command line, exit status and log, for failure messages."""
        status = "running" if self.running else f"exited with {self.process.returncode}"
        return (
            f"{self.name} ({status}): {' '.join(self.argv)}\n--- log {self.log_path} ---\n{self.log_text()}"
        )


class ServiceStartError(RuntimeError):
    """A helper process did not become ready; the message carries its command line and log."""


def start_service(
    name: str,
    build_argv: Callable[[int], Sequence[str]],
    ready_url: Callable[[int], str],
    is_ready: Callable[[Probe], bool],
    *,
    log_dir: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = READY_TIMEOUT_S,
    attempts: int = 3,
) -> ServiceProcess:
    """Start ``build_argv(port)`` on a free port and wait until ``is_ready(probe(ready_url(port)))``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        port = free_port()
        argv = [str(arg) for arg in build_argv(port)]
        log_path = log_dir / f"{name}-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv, cwd=cwd, env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        service = ServiceProcess(name, argv, log_path, process, port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and service.running:
            if is_ready(probe(ready_url(port), ssl_context)):
                return service
            time.sleep(_POLL_INTERVAL_S)
        if service.running:  # alive but never ready: a real failure, not a port race
            service.stop()
            raise ServiceStartError(f"not ready after {timeout:.0f}s: {service.describe()}")
        failures.append(f"attempt {attempt}: {service.describe()}")
    raise ServiceStartError("exited before becoming ready:\n" + "\n".join(failures))


def child_env(extra: Mapping[str, str] | None = None, *, drop_prefixes: Sequence[str] = ()) -> dict[str, str]:
    """The current environment minus variables starting with ``drop_prefixes``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in drop_prefixes)}
    env.update(extra or {})
    return env
