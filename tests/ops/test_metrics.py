"""``/metrics`` of a real ``cargohold serve`` after pulls through a real Distribution upstream: latency
histograms by route kind and cache outcome that count exactly the requests made (also added up across two
worker processes, whichever answers the scrape), the in-flight gauge, process metrics, and who may scrape:
a user, the dedicated scrape token, or anyone once ``metrics.public`` is on."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.proxy_e2e.upstreams import fetch, log_lines, manifest, proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import Image
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

SCRAPE_TOKEN = "scrape-token-0123456789abcdef"
LATENCY = "cargohold_http_request_duration_seconds"


def scrape(server: CargoholdServer, headers: dict[str, str] | None = None) -> dict[str, list[Sample]]:
    """The samples of one scrape by metric family name (fails on anything but 200)."""
    answer = fetch(f"{server.url}/metrics", headers=headers)
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(answer.body.decode())}


def value(samples: list[Sample], suffix: str, **labels: str) -> float:
    """The one sample named ``<family><suffix>`` with exactly these labels (besides ``le``)."""
    found = [
        s.value for s in samples
        if s.name.endswith(suffix) and {k: v for k, v in s.labels.items() if k != "le"} == labels
        and (suffix != "_bucket" or "le" in s.labels)
    ]  # fmt: skip
    assert found, f"no {suffix} sample with {labels}"
    return found[-1] if suffix == "_bucket" else found[0]


def buckets(samples: list[Sample], **labels: str) -> list[tuple[float, float]]:
    """``(upper bound, cumulative count)`` of each bucket of one labelled histogram, by bound."""
    return sorted(
        (float(s.labels["le"]), s.value)
        for s in samples
        if s.name.endswith("_bucket") and {k: v for k, v in s.labels.items() if k != "le"} == labels
    )


def pull_server(
    factory: CargoholdFactory, upstream: DistributionRegistry, **config: object
) -> CargoholdServer:
    return factory([repository("hub", [proxy("up", upstream.url)])], extra_config=config)


@pytest.fixture
def seeded(
    distribution_factory: DistributionFactory, container_tools: ContainerTools, tmp_path: Path
) -> tuple[DistributionRegistry, Image]:
    upstream = distribution_factory()
    return upstream, seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=51)


def test_histograms_count_each_pull_by_route_and_cache_outcome(
    cargohold_factory: CargoholdFactory, seeded: tuple[DistributionRegistry, Image]
) -> None:
    upstream, image = seeded
    server = pull_server(cargohold_factory, upstream, metrics={"token": SCRAPE_TOKEN})
    layer = image.manifests[0].layers[-1]
    assert manifest(server, "hub/team/app", "1.0").status == 200  # miss
    for _ in range(3):
        assert manifest(server, "hub/team/app", "1.0").status == 200  # hits
    blob = f"{server.url}/v2/hub/team/app/blobs/{layer.digest}"
    assert fetch(blob).status == 200  # miss
    assert fetch(blob).status == 200  # hit

    families = scrape(server, {"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    latency = families[LATENCY]
    assert value(latency, "_count", route="manifest", cache="miss") == 1
    assert value(latency, "_count", route="manifest", cache="hit") == 3
    assert value(latency, "_count", route="blob", cache="miss") == 1
    assert value(latency, "_count", route="blob", cache="hit") == 1
    hits = buckets(latency, route="manifest", cache="hit")
    assert hits[-1] == (float("inf"), 3)
    assert [count for _, count in hits] == sorted(count for _, count in hits)  # cumulative
    assert value(latency, "_sum", route="manifest", cache="hit") > 0
    assert families["cargohold_http_requests_in_flight"][0].value == 1  # the scrape itself
    assert value(families["cargohold_http_responses"], "_total", route="blob", status="2xx") == 2
    assert families["process_resident_memory_bytes"][0].value > 0
    assert value(families["cargohold_repository_cache_hits"], "_total", repository="hub") >= 0


def test_scraping_needs_a_user_or_the_scrape_token_unless_public(
    cargohold_factory: CargoholdFactory, seeded: tuple[DistributionRegistry, Image]
) -> None:
    upstream, _ = seeded
    guarded = pull_server(cargohold_factory, upstream, metrics={"token": SCRAPE_TOKEN})
    assert fetch(f"{guarded.url}/metrics").status == 401
    assert fetch(f"{guarded.url}/metrics", headers={"Authorization": "Bearer not-the-token"}).status == 401
    assert LATENCY in scrape(guarded, {"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert LATENCY in scrape(guarded, guarded.admin_authorization())

    public = pull_server(cargohold_factory, upstream, metrics={"public": True})
    families = scrape(public)
    assert LATENCY in families
    assert "cargohold_repository_requests" in families


def test_two_workers_add_up_their_requests(
    cargohold_factory: CargoholdFactory, seeded: tuple[DistributionRegistry, Image]
) -> None:
    upstream, _ = seeded
    server = pull_server(cargohold_factory, upstream, workers=2, metrics={"public": True})
    requests = 24  # each on a new connection: the kernel spreads them over both workers
    for _ in range(requests):
        assert manifest(server, "hub/team/app", "1.0").status == 200
    scrapes = 30  # on new connections too: both workers answer some (all by one: a chance of 2**-29)
    for _ in range(scrapes):  # whichever worker answers, the counts are the server's
        families = scrape(server)
        latency = families[LATENCY]
        made = value(latency, "_count", route="manifest", cache="miss") + value(
            latency, "_count", route="manifest", cache="hit"
        )
        assert made == requests
        assert families["cargohold_http_requests_in_flight"][0].value == 1
    scrapers = {
        line.split("[", 1)[1].split("]", 1)[0] for line in log_lines(server, '"GET /metrics ', at_least=6)
    }
    assert len(scrapers) == 2, "both worker processes answered scrapes (their pids in the access log)"
