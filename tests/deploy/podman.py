"""Build and run the repository's Containerfile with the machine's rootful podman, offline from registries.

What this machine allows, found by trying, and what each piece here does about it:

* No container registry is reachable, so ``FROM docker.io/library/python:...`` cannot be pulled. The image is
  built on a base made here from Debian packages: ``mmdebstrap`` (a faster debootstrap: parallel downloads,
  tar straight to stdout) writes a minbase bookworm with python3 and python3-venv, ``podman import`` turns the
  tar into ``localhost/cargohold-test-base:<hash of the mmdebstrap arguments>``, and the build gets it as the
  ``BASE_IMAGE`` build argument with ``--pull=never``. That base is kept in the machine's image store between
  runs (it takes minutes to make and changes only with the arguments); a fresh machine makes it once.
* crun refuses to start containers on this host's hybrid cgroup v1/v2 layout ("cgroups in hybrid mode not
  supported"), so every container, in the build too, runs with ``--runtime runc`` (Debian package ``runc``).
* The sandbox lacks CAP_SYS_RESOURCE, and podman's default rlimits for root (1048576 open files) would need
  it; ``--ulimit`` sets the open-files limit to the current hard limit and the process limit at most to the
  current soft one, which needs no privilege.
* PyPI is reached through a TLS-intercepting proxy whose CA is only in the host's bundle: the build mounts
  that bundle (``-v``, present during RUN steps only, never in an image) and names it in the Containerfile's
  ``PIP_CERT`` build argument. Without such a proxy the mount is harmless.

Everything a test makes (the image, containers, volumes) is named ``cargohold-test-<id>`` and removed by
exactly that name or id; only the base image stays.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import resource
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
RUNTIME = ("--runtime", "runc")
HOST_CA_BUNDLE = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_PATH = "/etc/ssl/certs/host-ca.crt"

DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_ARGS = (
    "--variant=minbase",
    "--include=python3,python3-venv,systemd",  # systemd: test_systemd_service boots it as PID 1
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "bookworm",
)
BASE_REPOSITORY = "localhost/cargohold-test-base"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_LOCK = Path("/var/tmp/cargohold-test-base.lock")
BASE_TIMEOUT_S = 900
BUILD_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 120


class PodmanError(AssertionError):
    """A podman (or mmdebstrap) command failed; carries its command line and output."""


def run(argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT_S, check: bool = True) -> str:
    """Run ``argv``, return its stdout; raise PodmanError with both outputs when it fails and ``check``."""
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )
    if check and result.returncode != 0:
        raise PodmanError(
            f"exit {result.returncode}: {' '.join(argv)}\n--- stdout ---\n{result.stdout[-4000:]}"
            f"\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result.stdout


def podman(*args: str, timeout: float = COMMAND_TIMEOUT_S, check: bool = True) -> str:
    """``podman --runtime runc ARGS``."""
    return run(["podman", *RUNTIME, *args], timeout=timeout, check=check)


def ulimit_args() -> list[str]:
    """``--ulimit`` flags that stay within this process's limits (see the module docstring)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc_soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    nproc = 4096 if nproc_soft == resource.RLIM_INFINITY else min(4096, nproc_soft)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def ensure_base_image() -> str:
    """The reference of the Debian base image, made now unless an earlier run left it (one maker at a
    time, under a file lock)."""
    digest = hashlib.sha256("\0".join((*BASE_ARGS, DEBIAN_MIRROR, BASE_PATH)).encode()).hexdigest()[:16]
    reference = f"{BASE_REPOSITORY}:{digest}"
    with BASE_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _image_exists(reference):
            return reference
        with tempfile.TemporaryFile() as errors:
            bootstrap = subprocess.Popen(
                ["mmdebstrap", "--quiet", *BASE_ARGS, "-", DEBIAN_MIRROR],
                stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert bootstrap.stdout is not None
            with bootstrap.stdout:
                imported = subprocess.run(
                    ["podman", "import", "--change", f"ENV PATH={BASE_PATH}", "-", reference],
                    stdin=bootstrap.stdout, capture_output=True, text=True, timeout=BASE_TIMEOUT_S,
                    check=False,
                )  # fmt: skip
            bootstrap.wait(timeout=BASE_TIMEOUT_S)
            errors.seek(0)
            bootstrap_err = errors.read().decode(errors="replace")
        if bootstrap.returncode != 0 or imported.returncode != 0:
            if _image_exists(reference):
                podman("rmi", reference, check=False)
            raise PodmanError(
                f"making the base image failed: mmdebstrap exit {bootstrap.returncode}: "
                f"{bootstrap_err[-4000:]}"
                f"\npodman import exit {imported.returncode}: {imported.stderr[-4000:]}"
            )
        return reference


def _image_exists(reference: str) -> bool:
    result = subprocess.run(["podman", "image", "exists", reference], capture_output=True, check=False)
    return result.returncode == 0


def build_image(
    base: str,
    tag: str,
    iidfile: Path,
    *,
    target: str | None = None,
    containerfile: Path = CONTAINERFILE,
    context: Path = ROOT,
) -> str:
    """Build ``containerfile`` (the repository's, from the repository, unless told otherwise) on ``base`` as
    ``tag``, up to its stage ``target`` if given; return the new image's id."""
    podman(
        "build", "--pull=never", "--layers=false", "--format", "docker", *ulimit_args(),
        "--build-arg", f"BASE_IMAGE={base}",
        "-v", f"{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro", "--build-arg", f"PIP_CERT={BUILD_CA_PATH}",
        *(["--target", target] if target else []),
        "--iidfile", str(iidfile), "--tag", tag, "--file", str(containerfile), str(context),
        timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    return iidfile.read_text().strip().removeprefix("sha256:")


@dataclass
class Container:
    """A detached container of the image under test; ``remove`` deletes exactly it."""

    name: str

    def inspect(self, template: str) -> str:
        return podman("inspect", "--type", "container", "--format", template, self.name).strip()

    @property
    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    def exec(self, *argv: str) -> str:
        return podman("exec", self.name, *argv).strip()

    def logs(self) -> str:
        return run(["podman", "logs", self.name], check=False)

    def describe(self) -> str:
        return f"container {self.name} ({self.inspect('{{.State.Status}}')}), log:\n{self.logs()[-6000:]}"

    def stop(self, grace_s: int) -> int:
        """SIGTERM, SIGKILL after ``grace_s``; return the exit code (137 means it had to be killed)."""
        podman("stop", "--time", str(grace_s), self.name, timeout=grace_s + COMMAND_TIMEOUT_S)
        return int(self.inspect("{{.State.ExitCode}}"))

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


def start_container(image: str, name: str, port: int, options: Sequence[str] = ()) -> Container:
    """``podman run -d`` of ``image`` with 127.0.0.1:``port`` published to its port 5000."""
    podman(
        "run", "--detach", "--name", name, *ulimit_args(),
        "--publish", f"127.0.0.1:{port}:5000", *options, image,
    )  # fmt: skip
    return Container(name)
