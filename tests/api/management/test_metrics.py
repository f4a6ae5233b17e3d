"""``GET /metrics`` renders the same counters as the statistics endpoint, in the Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from tests.oci.helpers import Registry
from tests.support.fake_upstream import FakeUpstream

from .conftest import MANAGED, ManagementApi
from .test_order_takes_effect import ACCEPT, serve


async def test_metrics_name_every_repository_and_proxy(api: ManagementApi) -> None:
    await api.create_repository("team", proxies=[{"name": "up", "url": "https://up.example"}])
    answer = await api.get("/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.body.decode())
        for sample in family.samples
    }
    for repository in (MANAGED, "team"):
        labels = (("repository", repository),)
        assert samples[("cargohold_repository_requests_total", labels)] == 0
        assert samples[("cargohold_repository_bytes_fetched_upstream_total", labels)] == 0
    up = (("proxy", "up"), ("repository", "team"))
    assert samples[("cargohold_proxy_healthy", up)] == 1
    assert samples[("cargohold_proxy_backoff_seconds", up)] == 0
    assert samples[("cargohold_proxy_requests_total", (("proxy", "origin"), ("repository", MANAGED)))] == 0
    stats = await api.ok("GET", "repositories/team/stats")
    assert stats["requests"] == samples[("cargohold_repository_requests_total", (("repository", "team"),))]


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and item.labels == labels:
                return float(item.value)
    raise AssertionError(f"no sample {name}{labels}")


async def test_a_pull_through_a_proxy_shows_in_metrics_and_stats_alike(api: ManagementApi) -> None:
    async with FakeUpstream() as upstream:
        serve(upstream, "team/app")
        await api.create_repository("mirror", proxies=[{"name": "up", "url": upstream.url}])
        reply = await Registry(api.client).get("/v2/mirror/team/app/manifests/latest", headers=ACCEPT)
        assert reply.status == 200, str(reply)
    stats = await api.ok("GET", "repositories/mirror/stats")
    text = (await api.get("/metrics")).body.decode()
    assert stats["requests"] >= 1
    assert sample(text, "cargohold_repository_requests_total", repository="mirror") == stats["requests"]
    assert (
        sample(text, "cargohold_repository_cache_misses_total", repository="mirror") == stats["cache_misses"]
    )
    (up,) = stats["proxies"]
    assert up["hits"] >= 1
    assert sample(text, "cargohold_proxy_hits_total", repository="mirror", proxy="up") == up["hits"]
    assert (
        sample(text, "cargohold_proxy_bytes_fetched_total", repository="mirror", proxy="up")
        == up["bytes_fetched"]
    )
