"""Single-flight (one upstream download per blob however many clients ask, also across worker processes),
multi-arch images through the cache, podman as a client, and the ways a client can name a repository."""

from __future__ import annotations

import hashlib
import socket
import struct
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.proxy_e2e.upstreams import (
    NO_TLS,
    fetch,
    log_lines,
    manifest,
    proxy,
    repository,
    seed_upstream,
    upstream_requests,
)
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import Blob, read_oci_layout, write_multiarch_image
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

CLIENTS = 16


@dataclass(frozen=True)
class ColdLayer:
    """One layer in a Distribution upstream that a fresh cargohold (repository ``hub``) proxies."""

    upstream: DistributionRegistry
    server: CargoholdServer
    layer: Blob
    path: str  # /v2/hub/<image>/blobs/<digest>

    @property
    def url(self) -> str:
        return f"{self.server.url}{self.path}"

    def is_the_layer(self, body: bytes) -> bool:
        return hashlib.sha256(body).hexdigest() == self.layer.digest.split(":")[1]

    def upstream_gets(self) -> int:
        return len(upstream_requests(self.upstream, "GET", f"/blobs/{self.layer.digest}"))


class ColdLayerFactory(Protocol):
    """Signature of the ``cold_layer`` fixture."""

    def __call__(self, image_name: str, *, seed: int, size: int, workers: int = 1) -> ColdLayer: ...


@pytest.fixture
def cold_layer(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> ColdLayerFactory:
    """Seed a one-layer image in a new upstream and start a cargohold (``--workers``) in front of it."""

    def make(image_name: str, *, seed: int, size: int, workers: int = 1) -> ColdLayer:
        upstream = distribution_factory()
        image = seed_upstream(
            container_tools, upstream, tmp_path / "src", image_name, "1.0", seed=seed, layer_sizes=(size,)
        )
        server = cargohold_factory(
            [repository("hub", [proxy("up", upstream.url)])], extra_args=("--workers", str(workers))
        )
        layer = image.manifests[0].layers[0]
        return ColdLayer(upstream, server, layer, f"/v2/hub/{image_name}/blobs/{layer.digest}")

    return make


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_pulls_of_a_missing_blob_cause_one_upstream_download(
    workers: int,
    cold_layer: ColdLayerFactory,
) -> None:
    cold = cold_layer("team/big", seed=71, size=24_000_000, workers=workers)

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda _: fetch(cold.url), range(CLIENTS)))

    assert [answer.status for answer in answers] == [200] * CLIENTS
    assert all(cold.is_the_layer(answer.body) for answer in answers)
    assert cold.upstream_gets() == 1


def test_a_client_that_stalls_mid_blob_gets_the_exact_bytes_after_others_cached_it(
    cold_layer: ColdLayerFactory,
) -> None:
    # The stalled client falls behind what the download keeps in memory: the rest of its body comes from the
    # spool file, sent with sendfile after the bytes it already got.
    cold = cold_layer("team/slow", seed=72, size=20_000_000)

    with urllib.request.urlopen(cold.url, timeout=120) as stalled:  # noqa: S310
        head = stalled.read(65536)
        others = [fetch(cold.url) for _ in range(2)]  # the second finds the blob committed
        rest = stalled.read()

    assert [answer.status for answer in others] == [200, 200]
    assert all(cold.is_the_layer(answer.body) for answer in others)
    assert len(head) + len(rest) == cold.layer.size
    assert cold.is_the_layer(head + rest)
    assert cold.upstream_gets() == 1


def test_a_client_that_disconnects_mid_blob_is_logged_as_gone_and_the_blob_is_still_cached(
    cold_layer: ColdLayerFactory,
) -> None:
    cold = cold_layer("team/gone", seed=73, size=20_000_000)
    server, path = cold.server, cold.path

    with socket.create_connection(("127.0.0.1", server.service.port), timeout=30) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        received = 0
        while received < 65536:
            received += len(client.recv(65536))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset

    assert log_lines(server, f"GET {path}: client went away")
    assert log_lines(server, f'"GET {path} HTTP/1.1" 499')  # nginx's code for a client that closed
    again = fetch(cold.url)
    assert again.status == 200
    assert cold.is_the_layer(again.body)
    assert cold.upstream_gets() == 1  # the cache write finished
    log = server.service.log_text()
    assert "unhandled error" not in log
    assert "Traceback" not in log


def test_a_multi_arch_index_is_kept_whole_and_its_children_fetched_on_demand(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = write_multiarch_image(tmp_path / "src", tag="2.0", seed=72)
    container_tools.skopeo(
        "copy", *NO_TLS, "--all", f"oci:{image.reference}", f"docker://{upstream.ref('team/multi', '2.0')}"
    )
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)])])

    index = manifest(server, "hub/team/multi", "2.0")
    assert f"sha256:{hashlib.sha256(index.body).hexdigest()}" == image.digest
    assert not upstream_requests(upstream, "GET", f"/manifests/{image.manifests[0].digest}")

    container_tools.skopeo(
        "copy", *NO_TLS, "--all", server.docker_ref("hub", "team/multi", "2.0"), f"oci:{tmp_path / 'out'}:2.0"
    )
    pulled = read_oci_layout(tmp_path / "out", "2.0")
    assert pulled.digest == image.digest
    assert [m.digest for m in pulled.manifests] == [m.digest for m in image.manifests]
    upstream.stop()
    for child in image.manifests:
        assert manifest(server, "hub/team/multi", child.digest).status == 200


def test_podman_pulls_through_the_cache(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=73)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)])])

    container_tools.podman("pull", "--tls-verify=false", server.ref("hub", "team/app", "1.0"))
    inspected = container_tools.podman_inspect(server.ref("hub", "team/app", "1.0"))
    assert inspected["Digest"] == image.digest
    assert len(inspected["RootFS"]["Layers"]) == len(image.manifests[0].layers)


def test_a_repository_is_found_by_ns_by_host_prefix_and_as_the_default(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "library/nginx", "1.27", seed=74)
    server = cargohold_factory(
        [repository("mirror", [proxy("up", upstream.url)], default=True, hosts=["registry.example.com"])]
    )
    by_name = manifest(server, "mirror/library/nginx", "1.27")
    by_ns = fetch(
        f"{server.url}/v2/library/nginx/manifests/1.27?ns=registry.example.com",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    by_prefix = manifest(server, "registry.example.com/library/nginx", "1.27")
    by_default = manifest(server, "library/nginx", "1.27")
    for answer in (by_name, by_ns, by_prefix, by_default):
        assert answer.status == 200
        assert answer.headers["Docker-Content-Digest"] == image.digest
    assert by_ns.headers["OCI-Namespace"] == "registry.example.com"
    assert by_prefix.headers["OCI-Namespace"] == "registry.example.com"
    assert "OCI-Namespace" not in by_name.headers
    unknown_ns = fetch(f"{server.url}/v2/library/nginx/manifests/1.27?ns=elsewhere.example.org")
    assert unknown_ns.status == 200  # an unknown ns is no lookup key: the name is resolved as usual
    assert "OCI-Namespace" not in unknown_ns.headers


def test_the_access_log_names_the_proxy(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=75)
    server = cargohold_factory([repository("hub", [proxy("company-registry", upstream.url)])])
    assert manifest(server, "hub/team/app", "1.0").status == 200
    lines = log_lines(server, '"GET /v2/hub/team/app/manifests/1.0 ')
    assert lines
    assert all("upstream=company-registry" in line for line in lines), lines

    layer = image.manifests[0].layers[-1]
    url = f"{server.url}/v2/hub/team/app/blobs/{layer.digest}"
    assert [fetch(url).status, fetch(url).status] == [200, 200]  # fetched through the proxy, then from disk
    blob_lines = log_lines(server, f'"GET /v2/hub/team/app/blobs/{layer.digest} ', at_least=2)
    assert len(blob_lines) == 2
    assert all(f" 200 {layer.size} upstream=company-registry " in line for line in blob_lines), blob_lines
