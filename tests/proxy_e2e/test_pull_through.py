"""Pull-through from real CNCF Distribution upstreams: a pull is answered by the first active proxy that has
the image, cached, and served again from the cache, also when the upstream is gone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import (
    NO_TLS,
    fetch,
    manifest,
    proxy,
    repository,
    seed_upstream,
    upstream_requests,
)
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_dir_image, write_image

pytestmark = pytest.mark.clients


def test_skopeo_pulls_through_and_then_from_the_cache_when_the_upstream_is_gone(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=11)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)])])

    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "team/app", "1.0"), f"dir:{tmp_path / 'first'}"
    )
    first = read_dir_image(tmp_path / "first")
    assert first.manifests[0].layer_digests == image.manifests[0].layer_digests

    upstream.stop()
    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "team/app", "1.0"), f"dir:{tmp_path / 'second'}"
    )
    second = read_dir_image(tmp_path / "second")
    assert second.manifests[0].layer_digests == image.manifests[0].layer_digests


def test_manifests_are_cached_byte_for_byte_and_name_their_proxy(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "library/base", "3", seed=12)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)])])

    by_tag = manifest(server, "hub/library/base", "3")
    assert by_tag.status == 200
    assert f"sha256:{hashlib.sha256(by_tag.body).hexdigest()}" == image.digest
    assert by_tag.headers["Docker-Content-Digest"] == image.digest
    assert by_tag.headers["Cargohold-Upstream"] == "up"
    by_digest = manifest(server, "hub/library/base", image.digest, method="HEAD")
    assert by_digest.status == 200
    assert by_digest.headers["Content-Length"] == str(len(by_tag.body))
    layer = image.manifests[0].layers[-1]
    blob = fetch(f"{server.url}/v2/hub/library/base/blobs/{layer.digest}")
    assert blob.status == 200
    assert f"sha256:{hashlib.sha256(blob.body).hexdigest()}" == layer.digest
    assert blob.headers["Cargohold-Upstream"] == "up"
    # served from the cache now: the upstream saw one GET of that blob only
    again = fetch(f"{server.url}/v2/hub/library/base/blobs/{layer.digest}", headers={"Range": "bytes=0-9"})
    assert again.status == 206
    assert again.body == blob.body[:10]
    assert len(upstream_requests(upstream, "GET", f"/blobs/{layer.digest}")) == 1


def test_the_first_proxy_in_priority_order_that_has_the_image_wins(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    first = distribution_factory(name="first")
    second = distribution_factory(name="second")
    in_first = seed_upstream(container_tools, first, tmp_path / "a", "team/app", "1.0", seed=21)
    in_second = seed_upstream(container_tools, second, tmp_path / "b", "team/app", "1.0", seed=22)
    only_second = seed_upstream(container_tools, second, tmp_path / "c", "team/other", "1.0", seed=23)
    assert in_first.digest != in_second.digest
    server = cargohold_factory(
        [repository("hub", [proxy("first", first.url), proxy("second", second.url)], tag_ttl_seconds=0)],
        name="priority",
    )

    answer = manifest(server, "hub/team/app", "1.0")
    assert (answer.headers["Docker-Content-Digest"], answer.headers["Cargohold-Upstream"]) == (
        in_first.digest,
        "first",
    )
    # not found in the first: passed to the second
    other = manifest(server, "hub/team/other", "1.0")
    assert (other.headers["Docker-Content-Digest"], other.headers["Cargohold-Upstream"]) == (
        only_second.digest,
        "second",
    )

    # reorder (same data, restarted with the list reversed): the next pull revalidates and the other one wins
    server.stop()
    server = cargohold_factory(
        [repository("hub", [proxy("second", second.url), proxy("first", first.url)], tag_ttl_seconds=0)],
        name="priority",
    )
    answer = manifest(server, "hub/team/app", "1.0")
    assert (answer.headers["Docker-Content-Digest"], answer.headers["Cargohold-Upstream"]) == (
        in_second.digest,
        "second",
    )


def test_inactive_proxies_are_never_contacted(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    inactive = distribution_factory(name="inactive")
    active = distribution_factory(name="active")
    seed_upstream(container_tools, inactive, tmp_path / "a", "team/app", "1.0", seed=31)
    wanted = seed_upstream(container_tools, active, tmp_path / "b", "team/app", "1.0", seed=32)
    server = cargohold_factory(
        [repository("hub", [proxy("inactive", inactive.url, active=False), proxy("active", active.url)])]
    )
    before = len(upstream_requests(inactive))

    answer = manifest(server, "hub/team/app", "1.0")
    assert answer.headers["Docker-Content-Digest"] == wanted.digest
    missing = manifest(server, "hub/team/missing", "1.0")
    assert missing.status == 404
    assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert len(upstream_requests(inactive)) == before


def test_a_moved_tag_is_revalidated_with_head_and_refetched_by_digest(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    old = seed_upstream(container_tools, upstream, tmp_path / "v1", "team/app", "latest", seed=41)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)], tag_ttl_seconds=0)])
    assert manifest(server, "hub/team/app", "latest").headers["Docker-Content-Digest"] == old.digest

    unchanged = manifest(server, "hub/team/app", "latest")
    assert unchanged.headers["Docker-Content-Digest"] == old.digest
    assert len(upstream_requests(upstream, "HEAD", "/manifests/latest")) == 1
    assert len(upstream_requests(upstream, "GET", "/manifests/latest")) == 1

    new = seed_upstream(container_tools, upstream, tmp_path / "v2", "team/app", "latest", seed=42)
    moved = manifest(server, "hub/team/app", "latest")
    assert moved.headers["Docker-Content-Digest"] == new.digest
    assert len(upstream_requests(upstream, "GET", f"/manifests/{new.digest}")) == 1
    assert len(upstream_requests(upstream, "GET", "/manifests/latest")) == 1
    # the old digest stays pullable from the cache
    assert manifest(server, "hub/team/app", old.digest).status == 200


def test_a_fresh_tag_is_served_without_asking_the_upstream(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    seed_upstream(container_tools, upstream, tmp_path / "v1", "team/app", "latest", seed=43)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)], tag_ttl_seconds=3600)])
    assert manifest(server, "hub/team/app", "latest").status == 200
    asked = len(upstream_requests(upstream, contains="/manifests/"))
    assert manifest(server, "hub/team/app", "latest").status == 200
    assert len(upstream_requests(upstream, contains="/manifests/")) == asked


def test_a_stale_tag_is_served_when_every_upstream_fails(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "v1", "team/app", "latest", seed=44)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)], tag_ttl_seconds=0)])
    assert manifest(server, "hub/team/app", "latest").status == 200

    upstream.stop()
    stale = manifest(server, "hub/team/app", "latest")
    assert stale.status == 200
    assert stale.headers["Docker-Content-Digest"] == image.digest
    assert "Stale" in stale.headers["Warning"]
    assert "serving stale" in server.service.log_text()
    never_cached = manifest(server, "hub/team/never", "latest")
    assert never_cached.status == 503
    error = never_cached.json()["errors"][0]
    assert error["code"] == "UNAVAILABLE"
    assert error["detail"][0]["proxy"] == "up"


def test_local_images_win_over_proxies(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    seed_upstream(container_tools, upstream, tmp_path / "up", "team/app", "1.0", seed=51)
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)], tag_ttl_seconds=0)])
    pushed = write_image(tmp_path / "local", tag="1.0", seed=52)
    container_tools.skopeo(
        "copy", *NO_TLS, "--dest-creds", server.admin_creds, f"oci:{pushed.reference}",
        server.docker_ref("hub", "team/app", "1.0"),
    )  # fmt: skip
    before = len(upstream_requests(upstream, contains="/team/app/"))

    answer = manifest(server, "hub/team/app", "1.0")
    assert answer.headers["Docker-Content-Digest"] == pushed.digest
    assert "Cargohold-Upstream" not in answer.headers
    assert len(upstream_requests(upstream, contains="/team/app/")) == before
