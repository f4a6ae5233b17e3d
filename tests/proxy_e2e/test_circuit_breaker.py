"""One request cannot take a proxy away from everyone: an upstream that answers 500 for one image keeps
serving the others through cargohold, and only failures of several different requests make cargohold skip
it. The upstream is a fake on purpose (tests/support/fake_upstream.py): a real Distribution does not answer
500 for one image name on demand. cargohold itself is the real server."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.proxy_e2e.test_misbehaving_upstreams import OCI_MANIFEST, image_manifest
from tests.proxy_e2e.upstreams import manifest, proxy, repository
from tests.support.fake_upstream import Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory

pytestmark = pytest.mark.clients

LONG_BACKOFF = {"upstream": {"backoff_seconds": 600}}


async def test_a_500_for_one_image_leaves_the_proxy_to_the_others_until_many_requests_fail(
    cargohold_factory: CargoholdFactory,
) -> None:
    body = image_manifest()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    async with FakeUpstream() as upstream:
        upstream.manifests["team/odd"] = Answer(status=500, body=b"internal error")
        upstream.manifests["team/app"] = Answer(
            body=body, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest}
        )
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("up", upstream.url)])], extra_config=LONG_BACKOFF
        )

        failed = await asyncio.to_thread(manifest, server, "hub/team/odd", "1")
        assert failed.status == 503
        served = await asyncio.to_thread(manifest, server, "hub/team/app", "1")
        assert served.status == 200, "one 500 for another image did not take the proxy away"
        assert served.headers["Cargohold-Upstream"] == "up"

        for tag in range(2, 7):  # five different requests fail in a row: the proxy is skipped now
            assert (await asyncio.to_thread(manifest, server, "hub/team/odd", str(tag))).status == 503
        as_admin = (
            server.admin_authorization()
        )  # the failure's message is for those who manage the repository
        skipped = await asyncio.to_thread(manifest, server, "hub/team/app", "2", headers=as_admin)
        asked = [seen for seen in upstream.seen if seen.path == "/v2/team/app/manifests/2"]
    assert skipped.status == 503
    detail = skipped.json()["errors"][0]["detail"][0]
    assert (detail["proxy"], detail["outcome"]) == ("up", "server_error")
    assert "skipped" in detail["message"]
    assert asked == []
