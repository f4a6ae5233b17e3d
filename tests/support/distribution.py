"""Run CNCF Distribution (Debian's ``/usr/bin/docker-registry``) as an upstream for proxy tests.

``start_distribution`` writes a ``config.yml`` (filesystem storage under the test's tmp dir, deletes
enabled, listening on a free port of 127.0.0.1), optionally with TLS (a self-signed certificate from
``tests.support.tls``) and htpasswd basic auth, runs ``docker-registry serve config.yml`` and waits until
``GET /v2/`` answers (200, or 401 when auth is on).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import ServiceProcess, child_env, start_service
from tests.support.server import registry_ready
from tests.support.tls import TlsFiles, htpasswd_line, make_self_signed

DISTRIBUTION_BINARY = "docker-registry"


@dataclass
class DistributionRegistry:
    """A running Distribution registry."""

    service: ServiceProcess
    root: Path
    tls: TlsFiles | None
    credentials: tuple[str, str] | None

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        return self.service.port

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``: what a cargohold proxy's ``url`` would be."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def ref(self, image: str, tag_or_digest: str = "latest") -> str:
        """``127.0.0.1:PORT/<image>:<tag>`` (or ``@<digest>``)."""
        sep = "@" if ":" in tag_or_digest else ":"
        return f"{self.host}/{image}{sep}{tag_or_digest}"

    def stop(self) -> int:
        """Stop the registry."""
        return self.service.stop()


def distribution_binary() -> str:
    """Path of the Distribution binary."""
    found = shutil.which(DISTRIBUTION_BINARY)
    if found is None:
        raise FileNotFoundError("docker-registry is not installed: run ./scripts/test (it apt-installs it)")
    return found


def start_distribution(
    workdir: Path,
    *,
    name: str = "distribution",
    tls: bool = False,
    credentials: tuple[str, str] | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> DistributionRegistry:
    """Start Distribution under ``workdir/<name>/``; ``credentials`` turns on htpasswd auth."""
    base = workdir / name
    root = base / "storage"
    root.mkdir(parents=True, exist_ok=True)
    tls_files = make_self_signed(base / "tls") if tls else None
    binary = distribution_binary()
    config_path = base / "config.yml"

    def argv(port: int) -> list[str]:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        if tls_files is not None:
            config["http"]["tls"] = {"certificate": str(tls_files.cert), "key": str(tls_files.key)}
        if credentials is not None:
            htpasswd = base / "htpasswd"
            htpasswd.write_text(htpasswd_line(*credentials) + "\n")
            config["auth"] = {"htpasswd": {"realm": "cargohold-test", "path": str(htpasswd)}}
        config.update(extra_config or {})
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return [binary, "serve", str(config_path)]

    scheme = "https" if tls_files else "http"
    service = start_service(
        name, argv, lambda port: f"{scheme}://127.0.0.1:{port}/v2/", registry_ready, log_dir=base,
        cwd=base, env=child_env(drop_prefixes=("REGISTRY_",)),
        ssl_context=tls_files.client_context() if tls_files else None,
    )  # fmt: skip
    return DistributionRegistry(service, root, tls_files, credentials)
