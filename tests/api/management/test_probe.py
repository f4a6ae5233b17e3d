"""Testing a proxy through /api/v1 against real CNCF Distribution upstreams: a saved proxy and unsaved
settings; the answer names each step's outcome (reach, TLS, auth, ping, lookup) and how long it took."""

from __future__ import annotations

from typing import Any

from tests.support.fixtures import DistributionFactory
from tests.support.processes import free_port

from .conftest import ManagementApi

REPO = "team"


def steps(result: dict[str, Any]) -> dict[str, bool]:
    assert result["elapsed_ms"] >= 0
    for step in result["steps"]:
        assert set(step) == {"name", "ok", "detail", "elapsed_ms"}
        assert step["elapsed_ms"] >= 0
    return {step["name"]: step["ok"] for step in result["steps"]}


async def test_a_reachable_upstream_passes(
    api: ManagementApi, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory()
    await api.create_repository(REPO, proxies=[{"name": "up", "url": upstream.url}])
    result = await api.ok("POST", f"repositories/{REPO}/proxies/up/test")
    assert result["ok"] is True, result
    outcome = steps(result)
    assert outcome["resolve+connect"] is True
    assert outcome["ping"] is True
    assert all(outcome.values()), result


async def test_looking_up_a_missing_image_is_reported(
    api: ManagementApi, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory()
    await api.create_repository(REPO, proxies=[{"name": "up", "url": upstream.url}])
    result = await api.ok("POST", f"repositories/{REPO}/proxies/up/test", {"image": "library/missing"})
    assert steps(result)["lookup"] is False, result
    assert result["ok"] is False


async def test_an_unreachable_upstream_fails_at_the_first_step(api: ManagementApi) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    await api.create_repository(REPO, proxies=[{"name": "down", "url": url, "connection_timeout_ms": 2000}])
    result = await api.ok("POST", f"repositories/{REPO}/proxies/down/test")
    assert result["ok"] is False
    first = result["steps"][0]
    assert (first["name"], first["ok"]) == ("resolve+connect", False), result
    assert first["detail"]


async def test_a_self_signed_certificate_is_named(
    api: ManagementApi, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory(tls=True)
    await api.create_repository(REPO, proxies=[{"name": "tls", "url": upstream.url}])
    result = await api.ok("POST", f"repositories/{REPO}/proxies/tls/test")
    assert result["ok"] is False
    (tls,) = [step for step in result["steps"] if step["name"] == "tls"]
    assert tls["ok"] is False
    assert "self-signed" in tls["detail"].lower() or "self signed" in tls["detail"].lower(), tls
    await api.ok("PATCH", f"repositories/{REPO}/proxies/tls", {"ssl_validation": False})
    assert (await api.ok("POST", f"repositories/{REPO}/proxies/tls/test"))["ok"] is True


async def test_unsaved_settings_are_tested_without_saving(
    api: ManagementApi, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory(credentials=("robot", "right"))
    await api.create_repository(REPO)
    proxy = {"name": "candidate", "url": upstream.url, "username": "robot"}
    good = await api.ok("POST", f"repositories/{REPO}/proxies-test", {**proxy, "password": "right"})
    assert good["ok"] is True, good
    bad = await api.ok("POST", f"repositories/{REPO}/proxies-test", {**proxy, "password": "wrong"})
    assert bad["ok"] is False
    assert steps(bad)["auth"] is False, bad
    assert await api.proxy_names(REPO) == []


async def test_probe_requests_are_validated(api: ManagementApi) -> None:
    await api.create_repository(REPO, proxies=[{"name": "up", "url": "http://127.0.0.1:9"}])
    error = await api.fails(
        "POST", f"repositories/{REPO}/proxies/up/test", {"image": "UPPER"}, 422, "invalid"
    )
    assert error["field"] == "image"
    await api.fails("POST", f"repositories/{REPO}/proxies/up/test", {"img": "x"}, 422, "invalid")
    body = {"name": "x", "url": "127.0.0.1:9"}
    assert (await api.fails("POST", f"repositories/{REPO}/proxies-test", body, 422, "invalid"))[
        "field"
    ] == "url"
    body = {"name": "x", "url": "http://127.0.0.1:9"}
    await api.fails("POST", "repositories/nothing/proxies-test", body, 404, "not_found")
