"""podman against a real cargohold: push from local storage, remove, pull back, pick a platform.

podman runs with private storage and configuration (``container_tools``; flags documented in
``tests.support.clients``), so these tests never touch the machine's images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import write_image, write_multiarch_image
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients


def test_push_remove_pull_round_trip(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(4096, 2_000_000), seed=11)
    manifest = image.manifests[0]
    name = cargohold.ref("test", "podman-image", "1.0")
    container_tools.load_layout(image.reference, name)
    digest_file = tmp_path / "pushed.digest"

    container_tools.podman("push", "--tls-verify=false", "--digestfile", str(digest_file), name)

    pushed_digest = digest_file.read_text().strip()
    served = container_tools.inspect_raw(f"docker://{name}")
    assert f"sha256:{hashlib.sha256(served).hexdigest()}" == pushed_digest
    container_tools.podman("rmi", "--all")  # the image had two names: remove it, not just one tag
    assert container_tools.podman("images", "--all", "--quiet").stdout.strip() == ""

    container_tools.podman("pull", "--tls-verify=false", name)

    info = container_tools.podman_inspect(name)
    assert info["Digest"] == pushed_digest
    assert f"sha256:{info['Id']}" == manifest.config.digest
    assert info["RootFS"]["Layers"] == list(manifest.diff_ids)
    assert f"{cargohold.host}/test/podman-image@{pushed_digest}" in info["RepoDigests"]


def test_pull_of_a_multiarch_image_picks_the_requested_platform(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_multiarch_image(tmp_path / "layout", tag="3.0", seed=12)
    name = cargohold.ref("test", "multi", "3.0")
    container_tools.skopeo(
        "copy", "--all", "--dest-tls-verify=false", f"oci:{image.reference}", f"docker://{name}"
    )

    for arch in ("arm64", "amd64"):
        container_tools.podman("pull", "--tls-verify=false", "--arch", arch, name)
        info = container_tools.podman_inspect(name)
        wanted = image.for_platform(arch)
        assert info["Architecture"] == arch
        assert info["RootFS"]["Layers"] == list(wanted.diff_ids)
        assert f"sha256:{info['Id']}" == wanted.config.digest
        container_tools.podman("rmi", "--all")


def test_pull_through_a_registries_conf_mirror_reaches_the_repository_named_by_host(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    """``[[registry.mirror]] location = "HOST/docker.io"`` makes podman ask ``/v2/docker.io/library/…``:
    the host prefix selects the repository whose ``hosts`` list ``docker.io`` (not the default one)."""
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "layout", "library/cargotest", "3.0", seed=13)
    dockerhub = repository("dockerhub", [proxy("upstream", upstream.url)], hosts=["docker.io"])
    server = cargohold_factory([repository("test", []), dockerhub])
    container_tools.add_mirror("docker.io", f"{server.host}/docker.io")

    container_tools.podman("pull", "docker.io/library/cargotest:3.0")

    info = container_tools.podman_inspect("docker.io/library/cargotest:3.0")
    assert info["Digest"] == image.digest
    assert info["RootFS"]["Layers"] == list(image.manifests[0].diff_ids)
    assert upstream_requests(upstream, "GET", "/v2/library/cargotest/manifests/3.0")
