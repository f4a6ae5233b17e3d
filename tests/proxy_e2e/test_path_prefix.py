"""A proxy URL with a path: the upstream registry's /v2/ API lives under a prefix, as with Artifactory
(``/artifactory/api/docker/REPO``) or a registry behind a reverse proxy at ``/registry``.

The upstream is a real Distribution behind a real nginx that serves it only under ``/registry/`` (and answers
404 everywhere else), so a request that lost the prefix fails visibly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import fetch, proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_oci_layout
from tests.support.nginx_prefix import Nginx, start_nginx

pytestmark = pytest.mark.clients


@pytest.fixture
def registry_behind_nginx(
    distribution_factory: DistributionFactory, tmp_path: Path
) -> Iterator[tuple[Nginx, DistributionRegistry]]:
    """nginx at a free port serving a Distribution registry under ``/registry/`` only."""
    upstream = distribution_factory()
    front = start_nginx(
        tmp_path,
        f"""
        location /registry/ {{
            proxy_pass http://127.0.0.1:{upstream.port}/;
            proxy_http_version 1.1;
            proxy_buffering off;
            client_max_body_size 0;
        }}
        location / {{ return 404; }}
        """,
    )
    yield front, upstream
    front.stop()


def test_pulls_and_the_connection_test_go_under_the_proxy_url_path(
    cargohold_factory: CargoholdFactory,
    registry_behind_nginx: tuple[Nginx, DistributionRegistry],
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    front, upstream = registry_behind_nginx
    image = seed_upstream(container_tools, upstream, tmp_path / "layout", "team/app", "1.0", seed=81)
    server = cargohold_factory([repository("company", [proxy("behind-nginx", f"{front.url}/registry")])])

    container_tools.skopeo(
        "copy", "--src-tls-verify=false", server.docker_ref("company", "team/app", "1.0"),
        f"oci:{tmp_path / 'pulled'}:1.0",
    )  # fmt: skip

    pulled = read_oci_layout(tmp_path / "pulled", "1.0")
    assert pulled.digest == image.digest
    asked = front.access_log()
    assert "GET /registry/v2/team/app/manifests/1.0" in asked
    outside_prefix = [line for line in asked if "/v2/" in line and not line.startswith("GET /registry/")]
    assert outside_prefix == []
    answer = fetch(
        f"{server.url}/api/v1/repositories/company/proxies/behind-nginx/test",
        method="POST",
        headers=server.admin_authorization(),
    )
    result = json.loads(answer.body)
    assert answer.status == 200
    assert result["ok"] is True, result
