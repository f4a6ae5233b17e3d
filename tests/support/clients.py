"""Drive the real skopeo and podman CLIs in isolation from the machine's container configuration.

``ContainerTools`` runs both with their own state under a tmp directory:

* ``CONTAINERS_REGISTRIES_CONF``, ``CONTAINERS_CONF``, ``CONTAINERS_STORAGE_CONF`` point at files written
  here (no unqualified-search registries, no mirrors from ``/etc/containers``), ``REGISTRY_AUTH_FILE`` at a
  private ``auth.json`` (podman 4.3 fails if that file does not exist, so it is created empty), ``TMPDIR``
  at a private directory, and ``--policy`` / ``--signature-policy`` at an accept-anything ``policy.json``.
* podman, running as root in this sandbox (found by trying), needs all of
  ``--root DIR --runroot DIR --tmpdir DIR --storage-driver vfs --cgroup-manager cgroupfs
  --events-backend file``; without ``runroot`` in the storage.conf it fails with "runroot must be set",
  and vfs avoids needing overlay/fuse. No container is ever run, only pull/push/inspect. The runroot
  path must be at most 50 characters ("the specified runroot is longer than 50 characters"), so it lives in
  a short ``/tmp/cargohold-run-*`` directory that ``close()`` removes, not under pytest's tmp dir.
* ``podman pull oci:<layout>:<tag>`` names the image after the layout path (``localhost/<path>:latest``);
  use ``load_layout`` which pulls and re-tags it.
* Shared state that remains: as root, containers/image keeps its blob-info cache (hints of where a blob was
  seen, used for cross-repository mounts) in ``/var/lib/containers/cache``; neither tool has a flag to move
  it. The hints are verified against the registry before use, so they cannot change results.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import child_env

COMMAND_TIMEOUT_S = 300


class ToolError(AssertionError):
    """A client command failed where the test expected success; carries argv and output."""


@dataclass
class ContainerTools:
    """skopeo and podman with private configuration and storage under ``home``."""

    home: Path
    runroot: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cargohold-run-")))

    def __post_init__(self) -> None:
        for sub in ("root", "tmp", "libpod-tmp"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.policy = self.home / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        (self.home / "registries.conf").write_text("unqualified-search-registries = []\n")
        (self.home / "containers.conf").write_text('[engine]\nevents_logger = "file"\n')
        run_root, graph_root = self.runroot, self.home / "root"
        (self.home / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\nrunroot = "{run_root}"\ngraphroot = "{graph_root}"\n'
        )
        (self.home / "auth.json").write_text('{"auths": {}}\n')
        self.env = child_env(
            {
                "CONTAINERS_REGISTRIES_CONF": str(self.home / "registries.conf"),
                "CONTAINERS_CONF": str(self.home / "containers.conf"),
                "CONTAINERS_STORAGE_CONF": str(self.home / "storage.conf"),
                "REGISTRY_AUTH_FILE": str(self.home / "auth.json"),
                "TMPDIR": str(self.home / "tmp"),
            },
            drop_prefixes=("CONTAINERS_", "REGISTRY_AUTH", "DOCKER_"),
        )

    def add_credentials(self, registry: str, username: str, password: str) -> None:
        """Store credentials for ``registry`` (``host:port``) in the private ``auth.json``, as ``podman
        login`` would, so that every later skopeo and podman command presents them there."""
        path = Path(self.env["REGISTRY_AUTH_FILE"])
        document = json.loads(path.read_text())
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        document.setdefault("auths", {})[registry] = {"auth": encoded}
        path.write_text(json.dumps(document))

    def close(self) -> None:
        """Remove the short-path runroot (the rest lives under the test's tmp dir)."""
        shutil.rmtree(self.runroot, ignore_errors=True)

    # --- running ----------------------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command with this environment; raise ToolError on failure when ``check``."""
        result = subprocess.run(
            [str(a) for a in argv], env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise ToolError(
                f"{' '.join(result.args)} exited with {result.returncode}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    def skopeo(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``skopeo --policy <private> --tmpdir <private> ARGS``."""
        tool = _require("skopeo")
        return self.run(
            [tool, "--policy", str(self.policy), "--tmpdir", str(self.home / "tmp"), *args], check=check
        )

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``podman`` with private root/runroot/tmpdir, vfs storage, cgroupfs and file events."""
        tool = _require("podman")
        base = [
            tool, "--root", str(self.home / "root"), "--runroot", str(self.runroot),
            "--tmpdir", str(self.home / "libpod-tmp"), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file",
        ]  # fmt: skip
        return self.run([*base, *args], check=check)

    # --- conveniences -----------------------------------------------------------------------------

    def inspect_raw(self, docker_ref: str) -> bytes:
        """``skopeo inspect --raw`` bytes (exactly as served) of a ``docker://`` reference."""
        tool = _require("skopeo")
        result = subprocess.run(
            [tool, "--policy", str(self.policy), "inspect", "--raw", "--tls-verify=false", docker_ref],
            env=self.env, capture_output=True, stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_S,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ToolError(
                f"skopeo inspect --raw {docker_ref} failed:\n{result.stderr.decode(errors='replace')}"
            )
        return result.stdout

    def inspect(self, docker_ref: str) -> dict[str, Any]:
        """``skopeo inspect`` JSON of a ``docker://`` reference."""
        out = self.skopeo("inspect", "--tls-verify=false", docker_ref).stdout
        value: dict[str, Any] = json.loads(out)
        return value

    def load_layout(self, reference: str, name: str) -> None:
        """Put an ``oci:<layout>:<tag>`` image into podman's store under ``name``."""
        out = self.podman("pull", "--signature-policy", str(self.policy), f"oci:{reference}").stdout
        image_id = out.strip().splitlines()[-1]
        self.podman("tag", image_id, name)

    def add_mirror(self, prefix: str, location: str, *, insecure: bool = True) -> None:
        """Mirror ``prefix`` (e.g. ``docker.io``) at ``location`` in the private ``registries.conf``, the way
        an administrator writes ``/etc/containers/registries.conf``."""
        with (self.home / "registries.conf").open("a") as conf:
            conf.write(
                f'\n[[registry]]\nprefix = "{prefix}"\nlocation = "{prefix}"\n'
                f'[[registry.mirror]]\nlocation = "{location}"\ninsecure = {str(insecure).lower()}\n'
            )

    def podman_inspect(self, name: str) -> dict[str, Any]:
        """``podman image inspect`` of one image."""
        value: list[dict[str, Any]] = json.loads(self.podman("image", "inspect", name).stdout)
        return value[0]


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(f"{tool} is not installed: run ./scripts/test (it apt-installs it)")
    return found
