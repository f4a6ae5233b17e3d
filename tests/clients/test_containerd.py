"""containerd pulling through cargohold as a ``docker.io`` mirror configured in ``hosts.toml``.

containerd sends ``?ns=docker.io`` with every request to a mirror (PROTOCOL.md §3.1); cargohold picks the
repository whose ``hosts`` names that registry. The repository here is not the default one, so only ``ns``
can route the pull to it. ``ctr`` talks to a private containerd (``tests.support.daemons``) using the
``native`` snapshotter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.daemons import Containerd
from tests.support.fixtures import CargoholdFactory, DistributionFactory

pytestmark = pytest.mark.clients


def write_hosts_dir(directory: Path, mirror_url: str) -> Path:
    """A ``--hosts-dir`` whose ``docker.io/hosts.toml`` sends pulls and resolves to ``mirror_url`` first."""
    (directory / "docker.io").mkdir(parents=True)
    (directory / "docker.io" / "hosts.toml").write_text(
        'server = "https://registry-1.docker.io"\n\n'
        f'[host."{mirror_url}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    return directory


def test_ctr_pull_through_a_hosts_toml_mirror_uses_ns_to_find_the_repository(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    containerd: Containerd,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "layout", "library/cargotest", "2.0", seed=71,
        layer_sizes=(4096, 300_000),
    )  # fmt: skip
    server = cargohold_factory(
        [
            repository("test", []),
            repository("dockerhub", [proxy("upstream", upstream.url)], hosts=["docker.io"]),
        ]
    )
    hosts_dir = write_hosts_dir(tmp_path / "hosts", server.url)

    containerd.ctr(
        "images", "pull", "--hosts-dir", str(hosts_dir), "--platform", "linux/amd64",
        "docker.io/library/cargotest:2.0",
    )  # fmt: skip

    listed = containerd.ctr("images", "list", "--quiet").stdout.split()
    assert listed == ["docker.io/library/cargotest:2.0"]
    _header, row = containerd.ctr("images", "check").stdout.strip().splitlines()
    reference, _type, digest, status, *_size, unpacked = row.split()
    assert (reference, digest, status, unpacked) == (
        "docker.io/library/cargotest:2.0",
        image.digest,
        "complete",
        "true",
    )
    assert upstream_requests(upstream, "GET", "/v2/library/cargotest/manifests/2.0")
    unpacked = containerd.ctr("snapshots", "list").stdout
    assert len(unpacked.strip().splitlines()) == 1 + len(image.manifests[0].layers)  # header + one per layer
