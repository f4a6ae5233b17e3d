"""A stored blob file is checked on the way out: one whose size is not the size recorded for it (truncated
on disk, say) is never served. Pushed content cannot be had again: the answer is 404 BLOB_UNKNOWN and the
problem is logged as an error naming the digest. Cached content is fetched again through the proxy (a real
Distribution upstream), and the verified download replaces the damaged file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import fetch, log_lines, proxy, repository, seed_upstream, upstream_requests
from tests.support.accounts import call
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

LAYER = b"a pushed layer " + os.urandom(200_000)
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def blob_file(server: CargoholdServer, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    return server.data_dir / "blobs" / algorithm / hex_digest[:2] / hex_digest


def truncate(path: Path, size: int) -> None:
    with path.open("r+b") as file:
        file.truncate(size)


def test_a_damaged_pushed_blob_is_not_served_and_the_problem_is_logged(
    cargohold_factory: CargoholdFactory,
) -> None:
    server = cargohold_factory([{"name": "local", "visibility": "public"}])
    pushed = call(
        f"{server.url}/v2/local/team/app/blobs/uploads/?digest={LAYER_DIGEST}",
        method="POST",
        data=LAYER,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )
    assert pushed.status == 201, pushed.body
    url = f"{server.url}/v2/local/team/app/blobs/{LAYER_DIGEST}"
    assert fetch(url).body == LAYER
    truncate(blob_file(server, LAYER_DIGEST), 1000)

    answer = fetch(url)
    head = fetch(url, method="HEAD")
    assert answer.status == 404
    assert json.loads(answer.body)["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert head.status == 404
    (line, *_) = log_lines(server, f"blob {LAYER_DIGEST} of local/team/app is damaged")
    assert " ERROR " in line
    assert f"1000 bytes, {len(LAYER)} were recorded" in line


def test_a_damaged_cached_blob_is_fetched_again_and_replaced(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=91)
    layer = image.manifests[0].layers[-1]
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)])])
    url = f"{server.url}/v2/hub/team/app/blobs/{layer.digest}"
    first = fetch(url)
    assert first.status == 200
    assert hashlib.sha256(first.body).hexdigest() == layer.digest.removeprefix("sha256:")
    assert log_lines(server, f"cached blob {layer.digest}"), "committed (just after the body went out)"
    stored = blob_file(server, layer.digest)
    truncate(stored, layer.size // 2)

    again = fetch(url)
    assert again.status == 200
    assert again.body == first.body
    assert log_lines(server, f"cached blob {layer.digest}", at_least=2)
    assert stored.read_bytes() == first.body, "the damaged file was replaced by the verified download"
    assert len(upstream_requests(upstream, "GET", f"/blobs/{layer.digest}")) == 2
    assert log_lines(server, f"blob {layer.digest} of hub/team/app is damaged")
    third = fetch(url)
    assert third.body == first.body
    assert len(upstream_requests(upstream, "GET", f"/blobs/{layer.digest}")) == 2, "served from disk again"
