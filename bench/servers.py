"""The three registries the benchmark runs side by side on loopback, and how images are addressed on each.

* ``direct``: a CNCF Distribution upstream (filesystem storage under the run's temp dir, every request in
  its access log), pulled from directly as the reference;
* ``cargohold``: ``cargohold serve`` with one repository ``bench`` whose single proxy is the upstream;
  images are ``HOST/bench/<image>``;
* ``distribution``: a second Distribution in proxy mode (``proxy.remoteurl`` = the upstream); images are
  ``HOST/<image>``;
* ``floor``: ``bench.relay``, a bare caching relay in front of the upstream, only in the pull phase: the cold
  pull any pull-through cache would at least cost on this machine; images are ``HOST/<image>``;
* ``relay``: ``bench.relay --no-cache``, the same relay writing nothing, only in the pull phase: what
  streaming and hashing alone cost.

Processes are started with ``tests.support`` (free ports, readiness polling, one log file each).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.distribution import DistributionRegistry, start_distribution
from tests.support.processes import ServiceProcess, ServiceStartError, start_service
from tests.support.server import registry_ready, start_cargohold

DIRECT, RELAY, FLOOR = "direct", "relay", "floor"
CARGOHOLD, DISTRIBUTION = "cargohold", "distribution"
SERVER_KEYS = (DIRECT, RELAY, FLOOR, CARGOHOLD, DISTRIBUTION)
REGISTRY_KEYS = (DIRECT, CARGOHOLD, DISTRIBUTION)  # measured in every phase; the two relays only pull
RELAY_KEYS = (RELAY, FLOOR)
PROXY_KEYS = (CARGOHOLD, DISTRIBUTION)
LABELS = {
    DIRECT: "upstream (direct)",
    RELAY: "relay, no cache file",
    FLOOR: "caching relay (floor)",
    CARGOHOLD: "cargohold",
    DISTRIBUTION: "Distribution proxy",
}
CARGOHOLD_REPOSITORY = "bench"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    """One registry under test: where it listens, the name prefix of its images, and its process."""

    key: str
    service: ServiceProcess
    prefix: str  # prepended to upstream image names: "bench/" for cargohold, "" for Distribution

    @property
    def label(self) -> str:
        """Human name for the table."""
        return LABELS[self.key]

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.service.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    @property
    def pid(self) -> int:
        """The server process id (its children are counted with it for memory)."""
        return self.service.process.pid

    def image(self, name: str) -> str:
        """The repository path of upstream image ``name`` on this server."""
        return f"{self.prefix}{name}"

    def docker_ref(self, name: str, tag: str) -> str:
        """``docker://HOST/<path>:<tag>`` for skopeo."""
        return f"docker://{self.host}/{self.image(name)}:{tag}"

    def manifest_url(self, name: str, reference: str) -> str:
        """``/v2/<path>/manifests/<tag or digest>``."""
        return f"{self.base_url}/v2/{self.image(name)}/manifests/{reference}"

    def blob_url(self, name: str, digest: str) -> str:
        """``/v2/<path>/blobs/<digest>``."""
        return f"{self.base_url}/v2/{self.image(name)}/blobs/{digest}"


@dataclass
class Servers:
    """The running registries; ``failures`` names each that could not start, with why."""

    upstream: DistributionRegistry
    running: dict[str, Server]
    failures: dict[str, str]


def _start_cargohold(workdir: Path, upstream_url: str) -> ServiceProcess:
    repositories = [
        {
            "name": CARGOHOLD_REPOSITORY,
            "visibility": "public",
            "proxies": [{"name": "upstream", "url": upstream_url}],
        }
    ]
    return start_cargohold(workdir, repositories, name="cargohold").service


def _start_distribution_proxy(workdir: Path, upstream_url: str) -> ServiceProcess:
    extra = {"proxy": {"remoteurl": upstream_url}}
    return start_distribution(workdir, name="distribution-proxy", extra_config=extra).service


def _start_relay(workdir: Path, upstream_url: str, *, caching: bool) -> ServiceProcess:
    base = workdir / ("floor" if caching else "relay")
    where = ["--cache", str(base / "cache")] if caching else ["--no-cache"]

    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "bench.relay", "--upstream", upstream_url, *where, "--port", str(port)]

    return start_service(
        base.name, argv, lambda port: f"http://127.0.0.1:{port}/v2/", registry_ready, log_dir=base,
        cwd=REPO_ROOT,
    )  # fmt: skip


def _start_floor_relay(workdir: Path, upstream_url: str) -> ServiceProcess:
    return _start_relay(workdir, upstream_url, caching=True)


def _start_streaming_relay(workdir: Path, upstream_url: str) -> ServiceProcess:
    return _start_relay(workdir, upstream_url, caching=False)


@contextmanager
def start_upstream(workdir: Path) -> Iterator[DistributionRegistry]:
    """Start the upstream Distribution (its access log records every request) and stop it afterwards."""
    upstream = start_distribution(workdir, name="upstream")
    try:
        yield upstream
    finally:
        upstream.stop()


@contextmanager
def start_proxies(workdir: Path, upstream: DistributionRegistry) -> Iterator[Servers]:
    """Start cargohold, the Distribution proxy and the two relays in front of ``upstream``; stop them
    afterwards."""
    running = {DIRECT: Server(DIRECT, upstream.service, "")}
    failures: dict[str, str] = {}
    starters = {
        CARGOHOLD: (_start_cargohold, CARGOHOLD_REPOSITORY + "/"),
        DISTRIBUTION: (_start_distribution_proxy, ""),
        FLOOR: (_start_floor_relay, ""),
        RELAY: (_start_streaming_relay, ""),
    }
    with ExitStack() as stack:
        for key, (starter, prefix) in starters.items():
            try:
                service = starter(workdir, upstream.url)
            except (ServiceStartError, OSError) as error:
                failures[key] = f"did not start: {error}"
                continue
            stack.callback(service.stop)
            running[key] = Server(key, service, prefix)
        yield Servers(upstream, running, failures)
