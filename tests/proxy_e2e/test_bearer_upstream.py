"""A token-authenticated upstream (real Distribution with ``auth: token``, a test token server as its realm):
skopeo pulls through cargohold with the proxy's credentials, tokens are reused, and a proxy without access
passes the request on as "not found", the way Docker Hub answers for private images."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, manifest, proxy, repository
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_dir_image, write_image
from tests.support.token_server import TokenServer

pytestmark = pytest.mark.clients

USERS = {"puller": "puller-pass", "pusher": "pusher-pass"}
ACL = {
    "": [("public/*", ["pull"])],
    "puller": [("*", ["pull"])],
    "pusher": [("*", ["pull", "push"])],
}


@pytest.fixture
async def tokens(tmp_path: Path) -> AsyncIterator[TokenServer]:
    async with TokenServer(tmp_path / "token-server", users=USERS, acl=ACL) as server:
        yield server


async def test_skopeo_pulls_through_a_bearer_upstream_with_the_proxy_credentials(
    tokens: TokenServer,
    distribution_factory: DistributionFactory,
    cargohold_factory: CargoholdFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = await asyncio.to_thread(distribution_factory, extra_config=tokens.distribution_config())
    image = write_image(tmp_path / "layout", tag="1.0", seed=81, layer_sizes=(5000, 300_000, 70_000))
    await asyncio.to_thread(
        container_tools.skopeo,
        "copy",
        *NO_TLS,
        "--dest-creds",
        "pusher:pusher-pass",
        f"oci:{image.reference}",
        f"docker://{upstream.ref('private/app', '1.0')}",
    )
    tokens.requests.clear()
    server = await asyncio.to_thread(
        cargohold_factory,
        [
            repository(
                "hub",
                [
                    proxy("anonymous", upstream.url),
                    proxy("company", upstream.url, username="puller", password="puller-pass"),
                ],
            )
        ],
    )
    await asyncio.to_thread(
        container_tools.skopeo,
        "copy",
        *NO_TLS,
        server.docker_ref("hub", "private/app", "1.0"),
        f"dir:{tmp_path / 'pulled'}",
    )
    pulled = read_dir_image(tmp_path / "pulled")
    assert pulled.manifests[0].layer_digests == image.manifests[0].layer_digests
    answer = await asyncio.to_thread(manifest, server, "hub/private/app", image.digest)
    assert answer.headers["Cargohold-Upstream"] == "company"
    # one token per (proxy, scope) and reused for the manifest and every blob
    assert tokens.count("puller") == 1
    assert tokens.count("") == 1
    assert "puller-pass" not in server.service.log_text()
