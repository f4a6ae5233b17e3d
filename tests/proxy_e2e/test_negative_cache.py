"""Negative caching against a real Distribution upstream: a tag that no proxy has is answered 404 without
asking the upstream again for a while, and a push of it into cargohold is served at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, manifest, proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import write_image

pytestmark = pytest.mark.clients


def test_a_missing_tag_is_asked_of_the_upstream_once_and_a_push_of_it_is_served_at_once(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    seed_upstream(container_tools, upstream, tmp_path / "up", "team/app", "1.0", seed=71)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)])])

    for _ in range(3):
        answer = manifest(server, "hub/team/app", "missing")
        assert answer.status == 404
        assert answer.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert len(upstream_requests(upstream, contains="/team/app/manifests/missing")) == 1
    assert manifest(server, "hub/team/app", "1.0").status == 200, "other tags are still asked for"

    pushed = write_image(tmp_path / "local", tag="missing", seed=72)
    container_tools.skopeo(
        "copy", *NO_TLS, "--dest-creds", server.admin_creds, f"oci:{pushed.reference}",
        server.docker_ref("hub", "team/app", "missing"),
    )  # fmt: skip
    answer = manifest(server, "hub/team/app", "missing")
    assert answer.status == 200
    assert answer.headers["Docker-Content-Digest"] == pushed.digest
