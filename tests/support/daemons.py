"""A private Docker daemon and a private containerd, for tests that pull through cargohold with them.

Both come from Debian's packages (``docker.io``, ``containerd``) and run beside the machine's own daemons,
if any, without touching them:

* ``dockerd`` gets its own ``--data-root``, ``--exec-root``, socket, pid file and ``daemon.json``
  (``registry-mirrors``, ``insecure-registries``), with ``--iptables=false --ip6tables=false --bridge=none
  --storage-driver=vfs``: no network set-up, no kernel overlay needed. It starts a containerd of its own
  under the exec root and stops it again on SIGTERM. The docker CLI used is Debian's ``/usr/bin/docker``
  (the same release as the daemon), with ``DOCKER_HOST`` at the private socket and ``DOCKER_CONFIG`` at a
  private directory, so ``docker login`` never writes into the machine's ``~/.docker``.
* ``containerd`` gets its own root, state directory and socket, and the ``native`` snapshotter (plain
  copies; no overlay mount). ``ctr`` talks to that socket, with ``native`` as its default snapshotter.

Unix socket paths must stay under 108 bytes, and pytest's tmp directories are long, so both daemons live in
a short ``/tmp/cargohold-d-*`` directory that ``stop`` removes. One thing these daemons share with the
machine: dockerd reads a registry's CA from ``/etc/docker/certs.d/HOST:PORT/ca.crt``, a path it has no
option to move; ``DockerDaemon.trust`` writes exactly that directory for one ``HOST:PORT`` and ``stop``
removes what it wrote.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import child_env

DOCKERD = "/usr/sbin/dockerd"
DOCKER_CLI = "/usr/bin/docker"
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 300
_POLL_INTERVAL_S = 0.1


class DaemonError(AssertionError):
    """A daemon did not start, or a client command failed where the test expected success."""


@dataclass
class _Daemon:
    """A daemon process writing to one log file, stopped with SIGTERM (then SIGKILL)."""

    name: str
    home: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self, limit: int = 100_000) -> str:
        """The tail of the daemon's log."""
        try:
            return self.log_path.read_bytes()[-limit:].decode("utf-8", errors="replace")
        except OSError:
            return ""

    @property
    def port(self) -> int:
        """Always 0: the daemon listens on a unix socket (the failure report names a port)."""
        return 0

    def describe(self) -> str:
        """Command line, exit status and log, for failure messages."""
        code = self.process.poll()
        status = "running" if code is None else f"exited with {code}"
        return f"{self.name} ({status}): {' '.join(map(str, self.process.args))}\n{self.log_text()}"

    def _terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def _launch(name: str, home: Path, argv: Sequence[str], env: Mapping[str, str]) -> _Daemon:
    log_path = home / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return _Daemon(name, home, process, log_path)


def _wait_until_ready(daemon: _Daemon, ready: Sequence[str], env: Mapping[str, str]) -> None:
    """Poll the ``ready`` command until it succeeds (a readiness loop with a deadline, not a sleep)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise DaemonError(f"{daemon.name} exited with {daemon.process.returncode}:\n{daemon.log_text()}")
        probe = subprocess.run(list(ready), env=dict(env), capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return
        time.sleep(_POLL_INTERVAL_S)
    daemon._terminate()
    raise DaemonError(f"{daemon.name} not ready after {START_TIMEOUT_S:.0f}s:\n{daemon.log_text()}")


def _run(
    argv: Sequence[str], env: Mapping[str, str], *, check: bool, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), env=dict(env), input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise DaemonError(
            f"{' '.join(argv)} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


@dataclass
class DockerDaemon:
    """A running private ``dockerd`` and the docker CLI pointed at it."""

    daemon: _Daemon
    env: dict[str, str]
    trusted: list[Path] = field(default_factory=list)

    def docker(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this daemon; raises DaemonError on failure unless ``check=False``."""
        return _run([DOCKER_CLI, *args], self.env, check=check, stdin=stdin)

    def login(self, registry: str, username: str, password: str) -> None:
        """``docker login`` with the password on stdin (stored in this daemon's private client config)."""
        self.docker("login", registry, "--username", username, "--password-stdin", stdin=password)

    def inspect(self, reference: str) -> dict[str, object]:
        """``docker image inspect`` of one image, as a dict."""
        found: list[dict[str, object]] = json.loads(self.docker("image", "inspect", reference).stdout)
        return found[0]

    def trust(self, registry: str, ca_certificate: Path) -> None:
        """Trust ``ca_certificate`` for ``registry`` (``HOST:PORT``) in ``/etc/docker/certs.d``."""
        directory = DOCKER_CERTS_DIR / registry
        directory.mkdir(parents=True, exist_ok=False)
        self.trusted.append(directory)
        shutil.copyfile(ca_certificate, directory / "ca.crt")

    def log_text(self) -> str:
        """The daemon's log, for failure messages."""
        return self.daemon.log_text()

    def stop(self) -> None:
        """Stop dockerd (and with it the containerd it started), remove its files and trusted CAs."""
        self.daemon._terminate()
        for directory in self.trusted:
            shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(self.daemon.home, ignore_errors=True)


def start_docker_daemon(
    *, mirrors: Sequence[str] = (), insecure_registries: Sequence[str] = ()
) -> DockerDaemon:
    """Start a private dockerd whose ``daemon.json`` names ``mirrors`` and ``insecure_registries``."""
    home = Path(tempfile.mkdtemp(prefix="cargohold-d-"))
    config = home / "daemon.json"
    config.write_text(
        json.dumps({"registry-mirrors": list(mirrors), "insecure-registries": list(insecure_registries)})
    )
    socket = home / "docker.sock"
    (home / "client").mkdir()
    env = child_env(
        {"DOCKER_HOST": f"unix://{socket}", "DOCKER_CONFIG": str(home / "client")}, drop_prefixes=("DOCKER_",)
    )
    argv = [
        DOCKERD, "--config-file", str(config), "--data-root", str(home / "data"), "--exec-root",
        str(home / "exec"), "--host", f"unix://{socket}", "--pidfile", str(home / "docker.pid"),
        "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
    ]  # fmt: skip
    daemon = _launch("dockerd", home, argv, env)
    _wait_until_ready(daemon, [DOCKER_CLI, "version"], env)
    return DockerDaemon(daemon, env)


_CONTAINERD_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.overlayfs"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
"""


@dataclass
class Containerd:
    """A running private containerd and ``ctr`` pointed at it."""

    daemon: _Daemon
    socket: Path
    env: dict[str, str]

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``ctr --address SOCKET ARGS``; raises DaemonError on failure unless ``check=False``."""
        return _run([CTR, "--address", str(self.socket), *args], self.env, check=check)

    def log_text(self) -> str:
        """The daemon's log, for failure messages."""
        return self.daemon.log_text()

    def stop(self) -> None:
        """Stop containerd and remove its files."""
        self.daemon._terminate()
        shutil.rmtree(self.daemon.home, ignore_errors=True)


def start_containerd() -> Containerd:
    """Start a private containerd using the ``native`` snapshotter."""
    home = Path(tempfile.mkdtemp(prefix="cargohold-c-"))
    socket = home / "containerd.sock"
    config = home / "config.toml"
    config.write_text(_CONTAINERD_CONFIG.format(root=home / "root", state=home / "state", socket=socket))
    env = child_env({"CONTAINERD_SNAPSHOTTER": "native"}, drop_prefixes=("CONTAINERD_",))  # ctr's default
    daemon = _launch("containerd", home, [CONTAINERD, "--config", str(config)], env)
    _wait_until_ready(daemon, [CTR, "--address", str(socket), "version"], env)
    return Containerd(daemon, socket, env)
