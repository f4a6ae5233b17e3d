"""Per-proxy name rules: a proxy is asked only for the image names its ``include``/``exclude`` globs allow,
for manifests and blobs alike; an excluded name never reaches it (counted in the upstream's access log),
and the pull's error detail and the connection test say when the rules skipped a proxy.

Two real Distribution upstreams: ``company`` (first, ``include: [company/**]``) and ``public`` (second,
``exclude: [company/**]``), both holding ``company/app:1.0`` with different content.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, manifest, proxy, repository, seed_upstream, upstream_requests
from tests.support.accounts import call
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_dir_image

pytestmark = pytest.mark.clients

FAST_FAILURES = {"upstream": {"read_timeout_seconds": 2.0, "backoff_seconds": 600}}


def asked(upstream: DistributionRegistry, contains: str, *, after: int = 0) -> list[str]:
    """The requests holding ``contains`` in the upstream's access log after its first ``after`` requests
    (those of the test's own seeding)."""
    return [line for line in upstream_requests(upstream)[after:] if contains in line]


def test_an_excluded_name_never_reaches_a_proxy(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    company = distribution_factory(name="company")
    public = distribution_factory(name="public")
    ours = seed_upstream(container_tools, company, tmp_path / "ours", "company/app", "1.0", seed=211)
    seed_upstream(container_tools, public, tmp_path / "theirs", "company/app", "1.0", seed=212)
    tool = seed_upstream(container_tools, public, tmp_path / "tool", "tools/lint", "2", seed=213)
    seeded = {"company": len(upstream_requests(company)), "public": len(upstream_requests(public))}
    server = cargohold_factory(
        [
            repository(
                "hub",
                [
                    proxy("company", company.url, include=["company/**"], connection_timeout_ms=500),
                    proxy("public", public.url, exclude=["company/**"]),
                ],
            )
        ],
        extra_config=FAST_FAILURES,
    )
    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "company/app", "1.0"), f"dir:{tmp_path / 'app'}"
    )
    assert read_dir_image(tmp_path / "app").manifests[0].digest == ours.digest
    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "tools/lint", "2"), f"dir:{tmp_path / 'lint'}"
    )
    lint = read_dir_image(tmp_path / "lint").manifests[0]
    assert lint.digest == tool.digest
    assert lint.layer_digests == tool.manifests[0].layer_digests
    # the company proxy was never asked for the tool (manifest or blob), the public one never for company/*
    assert asked(company, "/tools/", after=seeded["company"]) == []
    assert asked(public, "/company/", after=seeded["public"]) == []

    # with the company proxy down and nothing cached, company/other still does not come from public
    company.stop()
    other = manifest(server, "hub/company/other", "1.0", headers=server.admin_authorization())  # sees why
    assert other.status == 503
    outcomes = {entry["proxy"]: entry for entry in other.json()["errors"][0]["detail"]}
    assert outcomes["company"]["outcome"] == "unreachable"
    assert outcomes["public"]["outcome"] == "excluded by name rules"
    assert "exclude company/**" in outcomes["public"]["message"]
    assert asked(public, "/company/", after=seeded["public"]) == []


def test_a_name_no_proxy_may_be_asked_for_is_unknown_and_says_why(
    cargohold_factory: CargoholdFactory, distribution_factory: DistributionFactory
) -> None:
    company = distribution_factory(name="company")
    server = cargohold_factory([repository("hub", [proxy("company", company.url, include=["company/*"])])])
    answer = manifest(server, "hub/library/alpine", "3.20", headers=server.admin_authorization())
    assert answer.status == 404
    error = answer.json()["errors"][0]
    assert error["code"] == "MANIFEST_UNKNOWN"
    assert error["detail"] == [
        {
            "proxy": "company",
            "outcome": "excluded by name rules",
            "message": "not asked: its name rules (include company/*) do not allow library/alpine",
        }
    ]
    # '*' stays within one path component
    deeper = manifest(server, "hub/company/team/app", "1", headers=server.admin_authorization())
    assert deeper.json()["errors"][0]["detail"][0]["outcome"] == "excluded by name rules"
    assert asked(company, "/v2/library/") == []
    assert asked(company, "/v2/company/") == []


def test_rules_round_trip_through_the_api_and_the_connection_test_says_they_skip(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    public = distribution_factory(name="public")
    seed_upstream(container_tools, public, tmp_path / "tool", "tools/lint", "latest", seed=214)
    seeded = len(upstream_requests(public))
    server = cargohold_factory([])
    admin = {**server.admin_authorization(), "Content-Type": "application/json"}
    api = f"{server.url}/api/v1/repositories"

    def send(method: str, url: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        reply = call(url, method=method, headers=admin, data=data)
        return reply.status, (reply.json() if reply.body else None)

    status, _ = send("POST", api, {"name": "mirror", "visibility": "public"})
    assert status == 201
    status, created = send(
        "POST",
        f"{api}/mirror/proxies",
        {"name": "public", "url": public.url, "include": ["tools/**"], "exclude": ["tools/old*"]},
    )
    assert status == 201
    assert isinstance(created, dict)
    assert (created["include"], created["exclude"]) == (["tools/**"], ["tools/old*"])
    status, refused = send("PATCH", f"{api}/mirror/proxies/public", {"include": ["Tools/**"]})
    assert status == 422
    assert isinstance(refused, dict)
    assert refused["error"]["field"].startswith("include")

    status, probe = send("POST", f"{api}/mirror/proxies/public/test", {"image": "library/alpine"})
    assert status == 200
    assert isinstance(probe, dict)
    lookup = probe["steps"][-1]
    assert lookup["name"] == "lookup"
    assert not lookup["ok"]
    assert "name rules (include tools/**; exclude tools/old*) do not allow library/alpine" in lookup["detail"]
    status, probe = send("POST", f"{api}/mirror/proxies/public/test", {"image": "tools/lint"})
    assert isinstance(probe, dict)
    assert probe["steps"][-1]["ok"], probe
    assert manifest(server, "mirror/tools/lint", "latest").status == 200

    status, changed = send("PATCH", f"{api}/mirror/proxies/public", {"exclude": ["tools/lint"]})
    assert status == 200
    assert isinstance(changed, dict)
    assert changed["exclude"] == ["tools/lint"]
    # cached already: served from the cache; an uncached tag of the excluded name is not asked for
    assert manifest(server, "mirror/tools/lint", "latest").status == 200
    assert manifest(server, "mirror/tools/lint", "3").status == 404
    assert asked(public, "/tools/lint/manifests/3", after=seeded) == []
