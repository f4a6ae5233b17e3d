"""What the management API reports about a pull-through repository after real pulls: requests, cache hits
and misses, bytes served and fetched, per-proxy outcomes, and when each image was last pulled."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import closed_port, fetch, manifest, proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import ADMIN_PASSWORD

pytestmark = pytest.mark.clients
ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


def test_statistics_and_last_pulled_follow_the_pulls(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=91)
    server = cargohold_factory(
        [
            repository(
                "hub",
                [
                    proxy("down", f"http://127.0.0.1:{closed_port()}", connection_timeout_ms=500),
                    proxy("up", upstream.url),
                ],
            )
        ]
    )
    layer = image.manifests[0].layers[-1]
    assert manifest(server, "hub/team/app", "1.0").status == 200  # miss: fetched through "up"
    assert manifest(server, "hub/team/app", "1.0").status == 200  # hit
    blob_url = f"{server.url}/v2/hub/team/app/blobs/{layer.digest}"
    assert fetch(blob_url).status == 200  # miss
    assert fetch(blob_url).status == 200  # hit

    stats = fetch(f"{server.url}/api/v1/repositories/hub/stats", headers=ADMIN).json()
    assert (stats["requests"], stats["cache_hits"], stats["cache_misses"]) == (4, 2, 2)
    manifest_size = int(manifest(server, "hub/team/app", "1.0", method="HEAD").headers["Content-Length"])
    assert stats["bytes_served_from_cache"] == manifest_size + layer.size
    assert stats["bytes_fetched_upstream"] == manifest_size + layer.size
    by_proxy = {entry["proxy"]: entry for entry in stats["proxies"]}
    assert by_proxy["down"]["failures"] == {"unreachable": 1}
    assert by_proxy["down"]["healthy"] is False
    assert by_proxy["up"]["hits"] == 2
    assert by_proxy["up"]["bytes_fetched"] == manifest_size + layer.size

    images = fetch(f"{server.url}/api/v1/repositories/hub/images", headers=ADMIN).json()
    tags = {tag["tag"]: tag for tag in images[0]["tags"]}
    assert tags["1.0"]["digest"] == image.digest
    assert tags["1.0"]["source"] == "cached"
    assert tags["1.0"]["proxy_name"] == "up"
    assert tags["1.0"]["last_pulled_at"] is not None
