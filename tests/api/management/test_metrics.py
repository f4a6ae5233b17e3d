"""``GET /metrics`` renders the same counters as the statistics endpoint, in the Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from .conftest import MANAGED, ManagementApi


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
