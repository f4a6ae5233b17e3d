"""Warm-up: ``cargohold warm`` (and ``POST /api/v1/repositories/{repo}/warm``) fetch images into the cache
ahead of time through a real Distribution upstream, so a later pull finds everything cached even when the
upstream is gone. Run as a user runs it: the installed console script, signed in with ``cargohold login``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_oci_layout, write_multiarch_image
from tests.support.server import ADMIN_PASSWORD, CargoholdServer
from tests.test_cli_management import run

pytestmark = pytest.mark.clients


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands of a test keep their stored login under the test's own config directory."""
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def signed_in(server: CargoholdServer) -> CargoholdServer:
    login = run("login", "--username", "admin", "--password-stdin", server=server.url, stdin=ADMIN_PASSWORD)
    assert login.returncode == 0, login.stderr
    return server


def test_warm_fetches_the_named_platforms_and_a_second_run_finds_everything_cached(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    single = seed_upstream(container_tools, upstream, tmp_path / "single", "team/app", "1.0", seed=91)
    multi = write_multiarch_image(tmp_path / "multi", tag="2.0", seed=92)
    container_tools.skopeo(
        "copy", "--all", *NO_TLS, f"oci:{multi.reference}", f"docker://{upstream.ref('team/multi', '2.0')}"
    )
    server = signed_in(cargohold_factory([repository("company", [proxy("upstream", upstream.url)])]))
    ids = ("company/team/app:1.0", "company/team/multi:2.0")

    first = run("warm", *ids, "--platform", "linux/arm64", "--json", server=server.url)

    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    arm64 = multi.for_platform("arm64")
    wanted = {*single.manifests[0].layer_digests, single.manifests[0].config.digest}
    wanted |= {*arm64.layer_digests, arm64.config.digest}
    done = {event["digest"]: event["status"] for event in events if event["event"] == "blob_done"}
    assert done == dict.fromkeys(wanted, "fetched")  # arm64 only: no amd64 layer was fetched
    assert events[-1] == {"event": "summary", "fetched": len(wanted), "cached": 0, "failed": 0}
    for digest in wanted:  # each blob came from the upstream exactly once
        assert len(upstream_requests(upstream, "GET", f"/blobs/{digest}")) == 1

    second = run("warm", *ids, "--platform", "linux/arm64", server=server.url)

    assert second.returncode == 0, second.stderr
    assert f"0 blobs fetched, {len(wanted)} already cached, 0 failed" in second.stdout
    upstream.stop()  # what was warmed is served from the cache alone
    source = server.docker_ref("company", "team/multi", "2.0")
    container_tools.skopeo(
        "copy", "--src-tls-verify=false", "--override-arch", "arm64", source, f"oci:{tmp_path / 'pulled'}:2.0"
    )
    assert read_oci_layout(tmp_path / "pulled", "2.0").digest == arm64.blob.digest


def test_warm_reports_what_failed_and_exits_1(
    cargohold_factory: CargoholdFactory, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory()
    server = signed_in(cargohold_factory([repository("company", [proxy("upstream", upstream.url)])]))

    missing = run("warm", "company/team/absent:1.0", server=server.url)

    assert missing.returncode == 1
    assert "company/team/absent:1.0" in missing.stdout
    assert "0 blobs fetched, 0 already cached, 1 failed" in missing.stdout
    malformed = run("warm", "company/Team:1.0", server=server.url)
    assert malformed.returncode == 1
    assert "images.0" in malformed.stderr  # the API's validation error names the bad entry
    assert run("warm", "no-image-here", server=server.url).returncode == 2


def post_json(url: str, body: object, headers: dict[str, str]) -> tuple[int, object]:
    sent = {"Content-Type": "application/json", **headers}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_warm_needs_the_right_to_manage_the_repository(cargohold_factory: CargoholdFactory) -> None:
    server = cargohold_factory([repository("company", [])])
    body = {"images": ["team/app:1.0"]}

    anonymous, _ = post_json(f"{server.url}/api/v1/repositories/company/warm", body, {})
    unknown, error = post_json(
        f"{server.url}/api/v1/repositories/nothing/warm", body, server.admin_authorization()
    )

    assert anonymous == 401
    assert unknown == 404, error
