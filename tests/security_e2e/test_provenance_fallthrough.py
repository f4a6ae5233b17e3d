"""Provenance-safe fallthrough (dependency confusion): a tag that one proxy supplied is never swapped for
what a lower-priority proxy has under the same name while that proxy fails.

Two real Distribution upstreams: ``company`` (first, private-like) and ``public`` (second) hold *different*
images under the same name. When ``company`` goes down (its process stopped), the cached copy it supplied is
served stale with a ``Warning``, and ``public`` is not even asked for that tag. A name that nothing cached
and that ``company`` never had still comes from ``public`` while ``company`` is down.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, manifest, proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_dir_image

pytestmark = pytest.mark.clients

FAST_FAILURES = {"upstream": {"read_timeout_seconds": 2.0, "backoff_seconds": 600}}


def test_an_outage_of_the_supplying_proxy_serves_the_stale_copy_not_a_lower_proxys_image(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    company = distribution_factory(name="company")
    public = distribution_factory(name="public")
    ours = seed_upstream(container_tools, company, tmp_path / "ours", "company/app", "1.0", seed=201)
    theirs = seed_upstream(container_tools, public, tmp_path / "theirs", "company/app", "1.0", seed=202)
    assert ours.digest != theirs.digest
    server = cargohold_factory(
        [
            repository(
                "hub",
                [proxy("company", company.url, connection_timeout_ms=500), proxy("public", public.url)],
                tag_ttl_seconds=0,  # every pull revalidates the tag
            )
        ],
        extra_config=FAST_FAILURES,
    )
    reference = server.docker_ref("hub", "company/app", "1.0")
    container_tools.skopeo("copy", *NO_TLS, reference, f"dir:{tmp_path / 'first'}")
    assert read_dir_image(tmp_path / "first").manifests[0].digest == ours.digest

    company.stop()
    stale = manifest(server, "hub/company/app", "1.0")
    assert stale.status == 200
    assert stale.headers["Docker-Content-Digest"] == ours.digest
    assert stale.headers["Cargohold-Upstream"] == "company"
    assert "Stale" in stale.headers["Warning"]
    # a whole pull by a real client gets our image too, and the public proxy was never asked for the tag
    container_tools.skopeo("copy", *NO_TLS, reference, f"dir:{tmp_path / 'second'}")
    second = read_dir_image(tmp_path / "second")
    assert second.manifests[0].digest == ours.digest
    assert second.manifests[0].layer_digests == ours.manifests[0].layer_digests
    asked = upstream_requests(public, contains="/company/app/manifests/")
    asked = [line for line in asked if not line.startswith("PUT")]
    assert asked == []
    assert "serving stale hub/company/app:1.0" in server.service.log_text()


def test_a_name_nothing_cached_comes_from_the_next_proxy_while_the_first_fails(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    company = distribution_factory(name="company")
    public = distribution_factory(name="public")
    tool = seed_upstream(container_tools, public, tmp_path / "tool", "tools/lint", "2", seed=203)
    server = cargohold_factory(
        [
            repository(
                "hub",
                [proxy("company", company.url, connection_timeout_ms=500), proxy("public", public.url)],
                tag_ttl_seconds=0,
            )
        ],
        extra_config=FAST_FAILURES,
    )
    company.stop()
    answer = manifest(server, "hub/tools/lint", "2")
    assert answer.status == 200
    assert answer.headers["Docker-Content-Digest"] == tool.digest
    assert answer.headers["Cargohold-Upstream"] == "public"
    assert "Warning" not in answer.headers

    # once cached, the tag is not revalidated past the failing first proxy: the cached copy is served stale
    again = manifest(server, "hub/tools/lint", "2")
    assert again.status == 200
    assert again.headers["Docker-Content-Digest"] == tool.digest
    assert "Stale" in again.headers["Warning"]


def test_a_lower_proxy_supplies_a_cached_tag_once_the_supplier_says_not_found(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    """Only a 'not found' of every higher-priority proxy lets a lower one supply a tag."""
    company = distribution_factory(name="company")
    public = distribution_factory(name="public")
    ours = seed_upstream(container_tools, company, tmp_path / "ours", "company/app", "1.0", seed=204)
    theirs = seed_upstream(container_tools, public, tmp_path / "theirs", "company/app", "1.0", seed=205)
    server = cargohold_factory(
        [repository("hub", [proxy("company", company.url), proxy("public", public.url)], tag_ttl_seconds=0)]
    )
    assert manifest(server, "hub/company/app", "1.0").headers["Docker-Content-Digest"] == ours.digest
    container_tools.skopeo("delete", "--tls-verify=false", f"docker://{company.ref('company/app', '1.0')}")
    moved = manifest(server, "hub/company/app", "1.0")
    assert moved.status == 200
    assert moved.headers["Docker-Content-Digest"] == theirs.digest
    assert moved.headers["Cargohold-Upstream"] == "public"
    assert "Warning" not in moved.headers
