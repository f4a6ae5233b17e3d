"""Proxy URLs cannot turn cargohold into a way into the network it runs in (SSRF).

A repository admin (not a global admin) may not save, nor test, a proxy that leads to loopback or private
addresses, however the address is written (``localhost``, ``0x7f000001``, ``2130706433``,
``[::ffff:127.0.0.1]``); nobody may save one that leads to a denied network (link-local, the cloud metadata
addresses, in any of their forms). A global admin may point a proxy at a private address: the proxy is then
approved for it. The check is made on the resolved address of every connection, not only when a URL is
saved: a proxy approved by nobody reaches no private address even when its name resolves to one later
(shown here by switching the rule on for a proxy saved while it was off), and a denied network is refused
for a proxy the config file declares. Error bodies of /v2 name no internal host, port or TLS detail to
callers who do not manage the repository; admins see them. The upstreams are real Distribution registries on
127.0.0.1; the upstream's access log shows that a refused connection never reached it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import fetch, proxy, repository, seed_upstream, upstream_requests
from tests.support.accounts import Accounts, Reply, basic, call
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"
OPS = ("ops", "ops-password-123")


def api(server: CargoholdServer, method: str, path: str, body: Any = None, *, who: dict[str, str]) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**who, "Content-Type": "application/json"}
    return call(f"{server.url}/api/v1/{path}", method=method, headers=headers, data=data)


def team_with_repository_admin(server: CargoholdServer) -> None:
    """Repository ``team`` (made through the API) and user ``ops``, an admin of it and nothing more."""
    created = api(server, "POST", "repositories", {"name": "team"}, who=server.admin_authorization())
    assert created.status == 201, created.body
    Accounts(server).create_user(*OPS, grants={"team": "admin"})


def port_of(upstream: DistributionRegistry) -> int:
    return int(upstream.url.rsplit(":", 1)[1])


def pull_manifest(server: CargoholdServer, tag: str, headers: dict[str, str] | None = None) -> Any:
    return fetch(
        f"{server.url}/v2/team/app/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT, **(headers or {})}
    )


def test_a_repository_admin_cannot_save_or_test_a_proxy_that_leads_inside(
    cargohold_factory: CargoholdFactory, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory()
    port = port_of(upstream)
    server = cargohold_factory([])
    team_with_repository_admin(server)
    ops = basic(*OPS)
    before = upstream_requests(upstream)  # the fixture's readiness check
    private = [
        upstream.url,
        f"http://localhost:{port}",
        f"http://0x7f000001:{port}",
        f"http://2130706433:{port}",
        f"http://[::ffff:127.0.0.1]:{port}",
    ]
    denied = [
        "http://169.254.169.254",
        "http://[::ffff:169.254.169.254]",
        "http://[fd00:ec2::254]",
        "http://0.0.0.0:80",
    ]
    for index, url in enumerate(private + denied):
        body = {"name": f"p{index}", "url": url}
        for path in ("repositories/team/proxies", "repositories/team/proxies-test"):
            reply = api(server, "POST", path, body, who=ops)
            assert reply.status == 422, (url, path, reply.body)
            error = reply.json()["error"]
            assert error["field"] == "url"
            expected = "only a global admin" if url in private else "denied network"
            assert expected in error["message"], (url, error)
            assert "127.0.0.1" not in error["message"]
            assert "169.254" not in error["message"]
    listed = api(server, "GET", "repositories/team/proxies", who=ops)
    assert listed.json() == []
    assert upstream_requests(upstream) == before, "nothing was asked of the internal registry"


def test_a_global_admin_approves_private_targets_but_not_denied_ones(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    seed_upstream(container_tools, upstream, tmp_path / "src", "app", "1.0", seed=31)
    server = cargohold_factory([])
    team_with_repository_admin(server)
    admin, ops = server.admin_authorization(), basic(*OPS)

    for url in ("http://169.254.169.254", "http://[::ffff:a9fe:a9fe]", "http://[fe80::1]:5000"):
        refused = api(server, "POST", "repositories/team/proxies", {"name": "meta", "url": url}, who=admin)
        assert refused.status == 422, (url, refused.body)
        assert "denied network" in refused.json()["error"]["message"]

    added = api(server, "POST", "repositories/team/proxies", {"name": "up", "url": upstream.url}, who=admin)
    assert added.status == 201, added.body
    assert added.json()["private_networks_approved"] is True
    assert pull_manifest(server, "1.0").status == 200

    # The repository admin may change other settings of the approved proxy, and it stays approved ...
    edited = api(server, "PATCH", "repositories/team/proxies/up", {"connection_timeout_ms": 3000}, who=ops)
    assert edited.status == 200, edited.body
    assert edited.json()["private_networks_approved"] is True
    # ... but may not move it to another internal address.
    moved = api(
        server,
        "PATCH",
        "repositories/team/proxies/up",
        {"url": f"http://localhost:{port_of(upstream)}"},
        who=ops,
    )
    assert moved.status == 422, moved.body
    assert api(server, "GET", "repositories/team/proxies/up", who=ops).json()["url"] == upstream.url


def test_a_denied_network_is_refused_at_connection_time_and_outsiders_see_no_internals(
    cargohold_factory: CargoholdFactory, distribution_factory: DistributionFactory
) -> None:
    """The config file is not checked when it is read: the refusal happens at the connection, on the address
    ``localhost`` resolved to."""
    upstream = distribution_factory()
    port = port_of(upstream)
    before = upstream_requests(upstream)  # the fixture's readiness check
    server = cargohold_factory(
        [repository("team", [proxy("up", f"http://localhost:{port}")])],
        extra_config={"upstream": {"denied_networks": ["127.0.0.0/8", "::1/128"]}},
    )
    as_admin = pull_manifest(server, "1.0", server.admin_authorization())
    assert as_admin.status == 503
    message = as_admin.json()["errors"][0]["message"]
    assert f"localhost:{port}" in message
    assert "denied network" in message

    for tag in ("1.0", "2.0"):  # the second finds the proxy in backoff: its detail is withheld too
        anonymous = pull_manifest(server, tag)
        assert anonymous.status == 503
        (error,) = anonymous.json()["errors"]
        assert error["code"] == "UNAVAILABLE"
        assert [sorted(entry) for entry in error["detail"]] == [["outcome", "proxy"]]
        text = anonymous.body.decode()
        for internal in ("localhost", "127.0.0.1", "::1", str(port), "refused", "denied"):
            assert internal not in text, internal

    probe = api(server, "POST", "repositories/team/proxies/up/test", {}, who=server.admin_authorization())
    assert probe.status == 200, probe.body
    first = probe.json()["steps"][0]
    assert first["name"] == "resolve+connect"
    assert first["ok"] is False
    assert "denied network" in first["detail"]
    assert upstream_requests(upstream) == before, "no connection reached the upstream"


def test_a_proxy_nobody_approved_reaches_no_private_address_at_connection_time(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    """A stand-in for DNS rebinding: ``localhost`` was allowed when the repository admin saved it (the rule
    was off); once the rule is on, the same saved proxy is refused at every connection, its connection test
    included, until a global admin approves the URL."""
    upstream = distribution_factory()
    seed_upstream(container_tools, upstream, tmp_path / "one", "app", "1.0", seed=41)
    seed_upstream(container_tools, upstream, tmp_path / "two", "app", "2.0", seed=42)
    url = f"http://localhost:{port_of(upstream)}"
    server = cargohold_factory(
        [], name="rebind", extra_config={"upstream": {"private_networks_require_admin": False}}
    )
    team_with_repository_admin(server)
    ops = basic(*OPS)
    added = api(server, "POST", "repositories/team/proxies", {"name": "up", "url": url}, who=ops)
    assert added.status == 201, added.body
    assert added.json()["private_networks_approved"] is False
    assert pull_manifest(server, "1.0").status == 200
    server.stop()

    server = cargohold_factory([], name="rebind")  # the rule at its default: on
    before = len(upstream_requests(upstream, contains="/manifests/2.0"))
    refused = pull_manifest(server, "2.0")
    assert refused.status == 503, refused.body
    assert "localhost" not in refused.body.decode()
    assert len(upstream_requests(upstream, contains="/manifests/2.0")) == before
    probe = api(server, "POST", "repositories/team/proxies/up/test", {}, who=ops)
    step = probe.json()["steps"][0]
    assert step["ok"] is False
    assert "only a global admin" in step["detail"]
    assert "127.0.0.1" not in step["detail"]

    approved = api(
        server, "PATCH", "repositories/team/proxies/up", {"url": url}, who=server.admin_authorization()
    )
    assert approved.json()["private_networks_approved"] is True
    assert pull_manifest(server, "2.0").status == 200
