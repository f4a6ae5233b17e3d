"""Failover: a proxy that is unreachable, stalls, fails TLS validation or rejects the credentials passes the
request to the next one, and a proxy that failed is skipped (backoff) by the following pulls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import (
    accepted_connections,
    closed_port,
    manifest,
    proxy,
    repository,
    seed_upstream,
    silent_listener,
    upstream_requests,
)
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory

pytestmark = pytest.mark.clients

FAST_FAILURES = {"upstream": {"read_timeout_seconds": 1.0, "backoff_seconds": 600}}


def test_unreachable_and_stalled_proxies_pass_to_the_next_and_are_then_skipped(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=61)
    with silent_listener() as stalled:
        stalled_url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        server = cargohold_factory(
            [
                repository(
                    "hub",
                    [
                        proxy("refused", f"http://127.0.0.1:{closed_port()}", connection_timeout_ms=500),
                        proxy("stalled", stalled_url, connection_timeout_ms=500),
                        proxy("good", upstream.url),
                    ],
                )
            ],
            extra_config=FAST_FAILURES,
        )
        answer = manifest(server, "hub/team/app", "1.0")
        assert answer.status == 200
        assert answer.headers["Docker-Content-Digest"] == image.digest
        assert answer.headers["Cargohold-Upstream"] == "good"
        assert accepted_connections(stalled) == 1

        # the stalled proxy is backing off: the next pull of something else does not wait on it again
        other = seed_upstream(container_tools, upstream, tmp_path / "other", "team/other", "1.0", seed=62)
        answer = manifest(server, "hub/team/other", "1.0")
        assert answer.headers["Docker-Content-Digest"] == other.digest
        assert accepted_connections(stalled) == 0
    log = server.service.log_text()
    assert "proxy refused of repository hub failed (unreachable)" in log
    assert "proxy stalled of repository hub failed (timeout)" in log


def test_when_every_proxy_fails_the_client_is_told_what_each_did(
    cargohold_factory: CargoholdFactory, distribution_factory: DistributionFactory
) -> None:
    with silent_listener() as stalled:
        server = cargohold_factory(
            [
                repository(
                    "hub",
                    [
                        proxy("refused", f"http://127.0.0.1:{closed_port()}", connection_timeout_ms=500),
                        proxy("stalled", f"http://127.0.0.1:{stalled.getsockname()[1]}"),
                    ],
                )
            ],
            extra_config=FAST_FAILURES,
        )
        answer = manifest(server, "hub/team/app", "1.0")
    assert answer.status == 503
    error = answer.json()["errors"][0]
    assert error["code"] == "UNAVAILABLE"
    outcomes = {entry["proxy"]: entry["outcome"] for entry in error["detail"]}
    assert outcomes == {"refused": "unreachable", "stalled": "timeout"}


def test_ssl_validation_rejects_a_self_signed_upstream_unless_switched_off_for_that_proxy(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory(tls=True)
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=63)
    server = cargohold_factory(
        [
            repository("strict", [proxy("tls", upstream.url)]),
            repository("lenient", [proxy("tls", upstream.url, ssl_validation=False)]),
        ]
    )
    refused = manifest(server, "strict/team/app", "1.0", headers=server.admin_authorization())  # sees why
    assert refused.status == 503
    detail = refused.json()["errors"][0]["detail"][0]
    assert detail["outcome"] == "tls"
    assert "certificate" in detail["message"]

    accepted = manifest(server, "lenient/team/app", "1.0")
    assert accepted.status == 200
    assert accepted.headers["Docker-Content-Digest"] == image.digest


def test_wrong_credentials_pass_to_the_next_proxy_and_right_ones_work(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory(tls=True, credentials=("puller", "s3cret-pass"))
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=64)
    common = {"ssl_validation": False}
    server = cargohold_factory(
        [
            repository(
                "hub",
                [
                    proxy("wrong", upstream.url, username="puller", password="not-it", **common),
                    proxy("right", upstream.url, username="puller", password="s3cret-pass", **common),
                ],
            )
        ]
    )
    answer = manifest(server, "hub/team/app", "1.0")
    assert answer.status == 200
    assert answer.headers["Docker-Content-Digest"] == image.digest
    assert answer.headers["Cargohold-Upstream"] == "right"
    log = server.service.log_text()
    assert "proxy wrong of repository hub failed (credentials_rejected)" in log
    assert "s3cret-pass" not in log
    assert "not-it" not in log
    assert any(" 401" in line for line in upstream_requests(upstream, contains="/team/app/"))
