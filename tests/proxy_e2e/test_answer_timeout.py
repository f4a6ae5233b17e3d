"""A proxy that accepts connections and never answers is given up after its answer timeout
(``answer_timeout_ms``: time to the response headers), not after the read timeout that bounds a stalled
body: the pull goes on to the next proxy (a real Distribution upstream, pulled by skopeo), the failure says
which timeout it was, the connection test stops at it too, and the setting is shown and changed through the
API. The never-answering proxy is a silent TCP listener, on purpose. The read timeout is left at its 30 s
default, so a pull that waited for it instead would fail the assertions on what the failure says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import (
    NO_TLS,
    accepted_connections,
    manifest,
    proxy,
    repository,
    seed_upstream,
    silent_listener,
)
from tests.support.accounts import call
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory

pytestmark = pytest.mark.clients


def test_a_proxy_that_never_answers_is_given_up_after_its_answer_timeout(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=71)
    with silent_listener() as silent:
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        server = cargohold_factory(
            [
                repository(
                    "hub", [proxy("silent", silent_url, answer_timeout_ms=800), proxy("good", upstream.url)]
                ),
                repository("only", [proxy("silent", silent_url, answer_timeout_ms=800)]),
            ]
        )
        admin = server.admin_authorization()
        container_tools.skopeo(
            "copy", *NO_TLS, f"docker://{server.host}/hub/team/app:1.0", f"dir:{tmp_path / 'out'}"
        )
        assert accepted_connections(silent) >= 1, "the silent proxy was asked first"
        assert "proxy silent of repository hub failed (timeout)" in server.service.log_text()

        refused = manifest(server, "only/team/app", "1.0", headers=admin)
        assert refused.status == 503
        (outcome,) = refused.json()["errors"][0]["detail"]
        assert outcome["outcome"] == "timeout"
        assert "no answer from 127.0.0.1" in outcome["message"]
        assert "within 800 ms" in outcome["message"]

        api = f"{server.url}/api/v1/repositories"
        probe = call(f"{api}/only/proxies/silent/test", method="POST", headers=admin, data=b"{}")
        steps = {step["name"]: step for step in probe.json()["steps"]}
        assert steps["resolve+connect"]["ok"] is True
        assert steps["auth"]["ok"] is False
        assert "no answer within 800 ms (answer_timeout_ms)" in steps["auth"]["detail"]

    created = call(
        api,
        method="POST",
        headers={**admin, "Content-Type": "application/json"},
        data=json.dumps({"name": "team"}).encode(),
    )
    assert created.status == 201, created.body
    body = {"name": "up", "url": upstream.url}
    added = call(
        f"{api}/team/proxies",
        method="POST",
        headers={**admin, "Content-Type": "application/json"},
        data=json.dumps(body).encode(),
    )
    assert added.json()["answer_timeout_ms"] == 5000, "the default"
    for value, status in ((2500, 200), (0, 422), (True, 422)):
        changed = call(
            f"{api}/team/proxies/up",
            method="PATCH",
            headers={**admin, "Content-Type": "application/json"},
            data=json.dumps({"answer_timeout_ms": value}).encode(),
        )
        assert changed.status == status, (value, changed.body)
    shown = call(f"{api}/team/proxies/up", headers=admin).json()
    assert shown["answer_timeout_ms"] == 2500
