"""The log of a real ``cargohold serve`` with ``log_format: json``: every line on its stderr is one JSON
object, the access log carries what an operator filters on for a pull through a real Distribution upstream
(a miss, then a hit), and no secret reaches the log: not the user's password, not the upstream's, not the
registry token the client was given, not an Authorization header."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ops.http import get
from tests.proxy_e2e.upstreams import NO_TLS, proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import ADMIN_PASSWORD, CargoholdServer

pytestmark = pytest.mark.clients

UPSTREAM_USER, UPSTREAM_PASSWORD = "mirror", "upstream-secret-Pa55word"
BASE_FIELDS = {"time", "level", "logger", "message"}
ACCESS_FIELDS = {
    "method", "path", "status", "bytes", "duration", "user", "client", "user_agent", "upstream", "cache",
}  # fmt: skip


def json_log(server: CargoholdServer) -> list[dict[str, Any]]:
    """Every line of the stopped server's output, each parsed as JSON (a line that is not fails the test)."""
    lines = server.service.log_text(limit=50_000_000).splitlines()
    assert lines, "the server wrote nothing"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    return records


def test_json_log_of_a_pull_through_names_the_miss_and_the_hit(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory(credentials=(UPSTREAM_USER, UPSTREAM_PASSWORD))
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=41)
    private = repository(
        "hub", [proxy("up", upstream.url, username=UPSTREAM_USER, password=UPSTREAM_PASSWORD)],
        visibility="private",
    )  # fmt: skip
    server = cargohold_factory([private], extra_config={"log_format": "json"})
    creds = ("--src-creds", server.admin_creds)
    for target in ("first", "second"):  # a miss through the upstream, then a hit from the cache
        container_tools.skopeo(
            "copy", *NO_TLS, *creds, server.docker_ref("hub", "team/app", "1.0"), f"dir:{tmp_path / target}"
        )
    server.stop()  # every line written and flushed

    records = json_log(server)
    assert all(set(record) >= BASE_FIELDS for record in records), records[:3]
    access = [record for record in records if record["logger"] == "cargohold.access"]
    assert all(set(record) >= ACCESS_FIELDS for record in access)
    layer = image.manifests[0].layers[-1]
    blob_path = f"/v2/hub/team/app/blobs/{layer.digest}"
    blob_gets = [r for r in access if r["method"] == "GET" and r["path"] == blob_path]
    assert [r["cache"] for r in blob_gets] == ["miss", "hit"]
    for record in blob_gets:
        assert record["status"] == 200
        assert record["bytes"] == layer.size
        assert record["upstream"] == "up"
        assert record["user"] == "admin"
        assert record["client"] == "127.0.0.1"
        assert record["user_agent"] != "-"
        assert isinstance(record["duration"], float)
        assert record["duration"] >= 0
        assert record["level"] == "info"
    manifests = [r for r in access if r["path"] == "/v2/hub/team/app/manifests/1.0" and r["status"] == 200]
    assert {r["cache"] for r in manifests} == {"miss", "hit"}
    assert [r["status"] for r in access if r["path"].startswith("/v2/token")] != []

    text = server.service.log_text(limit=50_000_000)
    assert "\x1b" not in text  # no terminal escapes in a log that is not a TTY
    for secret in (
        ADMIN_PASSWORD,
        base64.b64encode(server.admin_creds.encode()).decode(),
        UPSTREAM_PASSWORD,
        base64.b64encode(f"{UPSTREAM_USER}:{UPSTREAM_PASSWORD}".encode()).decode(),
    ):
        assert secret not in text
    assert "eyJ" not in text  # no JWT (the registry token the client was issued)
    assert "authorization" not in text.lower()


def test_text_log_has_the_same_access_fields_and_no_escapes(cargohold: CargoholdServer) -> None:
    assert get(f"{cargohold.url}/v2/token?account=admin&password=hunter2hunter2").status in (200, 401)
    cargohold.stop()
    text = cargohold.service.log_text()
    assert "\x1b" not in text
    assert "hunter2hunter2" not in text
    (line,) = [line for line in text.splitlines() if '"GET /v2/token?' in line]
    assert "password=***" in line
    assert " upstream=- cache=- user=- " in line
