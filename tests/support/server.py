"""Run the real ``cargohold serve`` as a subprocess for end-to-end tests.

``start_cargohold`` writes a YAML config (README.md) with the given ``repositories:`` section,
starts ``.venv/bin/cargohold serve --config FILE --listen 127.0.0.1:PORT --data-dir DIR`` on a free port,
and returns once ``GET /v2/`` answers 200 with ``Docker-Distribution-Api-Version: registry/2.0``.
``start_cargohold_bare`` starts it with only ``--listen`` in a chosen working directory, to check the
embedded defaults. ``CARGOHOLD_*`` variables of the calling environment never reach the child, so a
developer's shell cannot change what a test sees.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import Probe, ServiceProcess, child_env, start_service

ADMIN = "admin"  # the user every test server creates on first start
ADMIN_PASSWORD = "test-admin-password"  # CARGOHOLD_ADMIN_PASSWORD for every test server
API_VERSION_HEADER = "Docker-Distribution-Api-Version"


def cargohold_executable() -> Path:
    """The ``cargohold`` console script of the running interpreter's environment (normally .venv)."""
    beside = Path(sys.executable).parent / "cargohold"
    if beside.exists():
        return beside
    found = shutil.which("cargohold")
    if found is None:
        raise FileNotFoundError("no cargohold executable: run ./scripts/test (it installs the package)")
    return Path(found)


def registry_ready(probe: Probe) -> bool:
    """``GET /v2/`` answered like a Distribution-API registry (200 or an auth challenge)."""
    headers = {k.lower(): v for k, v in probe.headers.items()}
    return probe.status in (200, 401) and headers.get(API_VERSION_HEADER.lower()) == "registry/2.0"


@dataclass
class CargoholdServer:
    """A running cargohold: where it listens, where its data and config live, and its process."""

    service: ServiceProcess
    data_dir: Path
    config_path: Path | None
    scheme: str = "http"

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        return self.service.port

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` for a server started with ``https=True``)."""
        return f"{self.scheme}://{self.host}"

    def ref(self, repository: str, image: str, tag_or_digest: str = "latest") -> str:
        """``127.0.0.1:PORT/<repository>/<image>:<tag>`` (or ``@<digest>``)."""
        sep = "@" if ":" in tag_or_digest else ":"
        return f"{self.host}/{repository}/{image}{sep}{tag_or_digest}"

    def docker_ref(self, repository: str, image: str, tag_or_digest: str = "latest") -> str:
        """The same reference in skopeo's ``docker://`` transport."""
        return "docker://" + self.ref(repository, image, tag_or_digest)

    @property
    def admin(self) -> tuple[str, str]:
        """The first-start admin's user name and password (``CARGOHOLD_ADMIN_PASSWORD``)."""
        return ADMIN, ADMIN_PASSWORD

    @property
    def admin_creds(self) -> str:
        """``admin:<password>``, as skopeo's ``--creds`` takes it."""
        return f"{ADMIN}:{ADMIN_PASSWORD}"

    def admin_authorization(self) -> dict[str, str]:
        """An ``Authorization: Basic`` header of the admin, for plain HTTP requests."""
        token = base64.b64encode(self.admin_creds.encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def stop(self) -> int:
        """Stop the server (SIGTERM, then SIGKILL)."""
        return self.service.stop()


def write_config(
    path: Path, repositories: Sequence[Mapping[str, Any]], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write a cargohold YAML config with ``repositories`` and any ``extra`` top-level settings."""
    document: dict[str, Any] = {**(extra or {}), "repositories": [dict(r) for r in repositories]}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _env(extra: Mapping[str, str] | None, admin_password: str | None = ADMIN_PASSWORD) -> dict[str, str]:
    preset = {"CARGOHOLD_ADMIN_PASSWORD": admin_password} if admin_password is not None else {}
    return child_env({**preset, **(extra or {})}, drop_prefixes=("CARGOHOLD_",))


def start_cargohold(
    workdir: Path,
    repositories: Sequence[Mapping[str, Any]],
    *,
    name: str = "cargohold",
    extra_config: Mapping[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    admin_password: str | None = ADMIN_PASSWORD,
    wrapper: Sequence[str] = (),
    https: bool = False,
) -> CargoholdServer:
    """Start cargohold with a written config under ``workdir/<name>/`` and wait until it serves /v2/.

    ``admin_password`` becomes ``CARGOHOLD_ADMIN_PASSWORD`` (None: unset, so a first start generates one);
    ``wrapper`` is a command the server runs under (``prlimit --nofile=…``); ``https`` says the config makes
    it serve TLS (readiness is then polled over https without checking the certificate; tests check it)."""
    base = workdir / name
    data_dir = base / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = write_config(base / "config.yml", repositories, extra_config)
    exe = str(cargohold_executable())

    def argv(port: int) -> list[str]:
        return [
            *wrapper, exe, "serve", "--config", str(config_path), "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(data_dir), *extra_args,
        ]  # fmt: skip

    scheme = "https" if https else "http"
    service = start_service(
        name, argv, lambda port: f"{scheme}://127.0.0.1:{port}/v2/", registry_ready,
        log_dir=base, cwd=base, env=_env(env, admin_password), ssl_context=_unchecked() if https else None,
    )  # fmt: skip
    return CargoholdServer(service, data_dir, config_path, scheme)


def _unchecked() -> ssl.SSLContext:
    """A client context for readiness polls only: it accepts any certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def start_cargohold_bare(
    cwd: Path, log_dir: Path, *, env: Mapping[str, str] | None = None
) -> CargoholdServer:
    """Start ``cargohold serve --listen 127.0.0.1:PORT`` in ``cwd``: every other setting at its default."""
    exe = str(cargohold_executable())
    service = start_service(
        "cargohold-defaults", lambda port: [exe, "serve", "--listen", f"127.0.0.1:{port}"],
        lambda port: f"http://127.0.0.1:{port}/v2/", registry_ready, log_dir=log_dir, cwd=cwd, env=_env(env),
    )  # fmt: skip
    return CargoholdServer(service, cwd / "data", None)
