"""The Docker daemon, the client most users have, pulling and pushing through a real cargohold.

Each test starts a private ``dockerd`` (``tests.support.daemons``: its own data root, exec root, socket,
pid file and ``daemon.json``; vfs storage, no iptables, no bridge) and real CNCF Distribution upstreams.
What a user checks is what the daemon ends up with: the image id (the config digest), the layers' diff ids,
the repo digest, and that the bytes came through cargohold (its cache answers once the upstream is gone).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import (
    MANIFEST_ACCEPT,
    fetch,
    manifest,
    proxy,
    repository,
    seed_upstream,
    upstream_requests,
)
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory, DockerDaemonFactory
from tests.support.images import Image, write_image, write_multiarch_image

pytestmark = pytest.mark.clients


def assert_daemon_holds(info: dict[str, object], image: Image) -> None:
    """The daemon's copy is exactly ``image``: same config (the image id) and the same layers."""
    wanted = image.manifests[0]
    assert info["Id"] == wanted.config.digest
    assert info["RootFS"] == {"Type": "layers", "Layers": list(wanted.diff_ids)}


def test_docker_pull_through_registry_mirrors_is_served_by_the_default_repository(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    docker_daemon_factory: DockerDaemonFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "layout", "library/cargotest", "1.0", seed=61,
        layer_sizes=(4096, 300_000),
    )  # fmt: skip
    server = cargohold_factory([repository("hub", [proxy("upstream", upstream.url)], default=True)])
    docker = docker_daemon_factory(mirrors=[server.url])

    docker.docker("pull", "cargotest:1.0")  # a Docker Hub name: the daemon asks its mirror

    assert_daemon_holds(docker.inspect("cargotest:1.0"), image)
    assert upstream_requests(upstream, "GET", "/v2/library/cargotest/manifests/1.0")
    upstream.stop()
    docker.docker("rmi", "cargotest:1.0")
    docker.docker("pull", "cargotest:1.0")  # the upstream is gone: only cargohold's cache can answer
    assert_daemon_holds(docker.inspect("cargotest:1.0"), image)
    assert manifest(server, "hub/library/cargotest", "1.0").status == 200


def test_docker_pull_by_explicit_repository_reference(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    docker_daemon_factory: DockerDaemonFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "layout", "team/app", "2.0", seed=62)
    server = cargohold_factory([repository("company", [proxy("upstream", upstream.url)])])
    docker = docker_daemon_factory()
    reference = server.ref("company", "team/app", "2.0")

    docker.docker("pull", reference)  # 127.0.0.1 is an insecure registry to the daemon by default

    info = docker.inspect(reference)
    assert_daemon_holds(info, image)
    assert info["RepoDigests"] == [f"{server.host}/company/team/app@{image.digest}"]


def test_docker_login_push_and_pull_of_a_private_repository(
    cargohold_factory: CargoholdFactory,
    docker_daemon_factory: DockerDaemonFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    server = cargohold_factory([{"name": "private", "visibility": "private", "proxies": []}])
    docker = docker_daemon_factory()
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(4096, 500_000), seed=63)
    reference = server.ref("private", "app", "1.0")
    archive = tmp_path / "app.tar"
    container_tools.skopeo("copy", f"oci:{image.reference}", f"docker-archive:{archive}:{reference}")
    docker.docker("load", "--input", str(archive))

    anonymous_push = docker.docker("push", reference, check=False)
    assert anonymous_push.returncode != 0
    assert "unauthorized" in anonymous_push.stderr.lower() or "denied" in anonymous_push.stderr.lower()

    docker.login(server.host, *server.admin)
    pushed = docker.docker("push", reference)
    assert "digest: sha256:" in pushed.stdout
    docker.docker("rmi", reference)
    docker.docker("logout", server.host)
    anonymous_pull = docker.docker("pull", reference, check=False)
    assert anonymous_pull.returncode != 0
    assert "unauthorized" in anonymous_pull.stderr.lower() or "denied" in anonymous_pull.stderr.lower()

    docker.login(server.host, *server.admin)
    docker.docker("pull", reference)

    info = docker.inspect(reference)
    assert_daemon_holds(info, image)
    assert manifest(server, "private/app", "1.0").status == 401  # anonymous: refused, like the daemon was
    served = fetch(
        f"{server.url}/v2/private/app/manifests/1.0",
        method="HEAD",
        headers={"Accept": MANIFEST_ACCEPT, **server.admin_authorization()},
    )
    assert info["RepoDigests"] == [f"{server.host}/private/app@{served.headers['Docker-Content-Digest']}"]


def test_docker_manifest_inspect_of_a_multiarch_index(
    cargohold_factory: CargoholdFactory,
    docker_daemon_factory: DockerDaemonFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    """The index is pushed as a Docker manifest list, what Docker Hub serves: Debian's Docker 20.10 CLI
    cannot inspect OCI manifests inside an index ("unsupported manifest media type")."""
    server = cargohold_factory()
    image = write_multiarch_image(tmp_path / "layout", tag="3.0", seed=64)
    container_tools.skopeo(
        "copy", "--all", "--format", "v2s2", "--dest-creds", server.admin_creds, "--dest-tls-verify=false",
        f"oci:{image.reference}", server.docker_ref("test", "multi", "3.0"),
    )  # fmt: skip
    docker = docker_daemon_factory()

    listed = docker.docker("manifest", "inspect", "--insecure", server.ref("test", "multi", "3.0"))

    index = json.loads(listed.stdout)
    assert index["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    served = manifest(server, "test/multi", "3.0").json()
    found = {entry["platform"]["architecture"]: entry["digest"] for entry in index["manifests"]}
    assert found == {entry["platform"]["architecture"]: entry["digest"] for entry in served["manifests"]}
    assert set(found) == {m.platform.architecture for m in image.manifests}


def test_docker_login_push_and_pull_over_tls_with_the_generated_ca_trusted(
    cargohold_factory: CargoholdFactory,
    docker_daemon_factory: DockerDaemonFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    """cargohold in self-signed TLS mode, its CA copied to ``/etc/docker/certs.d/HOST:PORT/ca.crt`` as its
    log says. The server speaks only HTTPS, so every request that worked went over TLS. (Docker also treats
    127.0.0.0/8 as an insecure registry, so a missing CA would not be refused on loopback; what this shows
    is the documented set-up working end to end.)"""
    private = {"name": "private", "visibility": "private", "proxies": []}
    server = cargohold_factory([private], extra_config={"tls": {"self_signed": True}}, https=True)
    docker = docker_daemon_factory()
    docker.trust(server.host, server.data_dir / "tls" / "ca.crt")
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(4096, 400_000), seed=65)
    reference = server.ref("private", "app", "1.0")
    archive = tmp_path / "app.tar"
    container_tools.skopeo("copy", f"oci:{image.reference}", f"docker-archive:{archive}:{reference}")
    docker.docker("load", "--input", str(archive))

    docker.login(server.host, *server.admin)
    docker.docker("push", reference)
    docker.docker("rmi", reference)
    docker.docker("pull", reference)

    assert_daemon_holds(docker.inspect(reference), image)
    assert f"listening on https://{server.host}" in server.service.log_text()  # it served TLS only
