"""A proxy's credentials go to a token realm only over https, or in clear only to the registry's own host.

The attack: an upstream registry reached over plain http (or anyone able to rewrite its answers on the
way) names a token realm on another host, ``http://127.0.0.2:<port>/token``. A proxy configured with a
username and password must not send them there in clear: the proxy fails, saying why, and the pull goes on
to the next proxy. The upstreams are fakes on purpose (tests/support/fake_upstream.py): a real registry
does not point its realm at a stranger. A realm on the registry's own host keeps working (the real
Distribution + token server tests in tests/proxy_e2e/test_bearer_upstream.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from tests.proxy_e2e.upstreams import log_lines, manifest, proxy, repository
from tests.support.fake_upstream import STORAGE_HOST, Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory

pytestmark = pytest.mark.clients

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = b'{"architecture": "amd64", "os": "linux"}'
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(),
            "size": len(CONFIG),
        },
        "layers": [],
    }
).encode()
SERVED = Answer(
    body=MANIFEST,
    headers={
        "Content-Type": OCI_MANIFEST,
        "Docker-Content-Digest": "sha256:" + hashlib.sha256(MANIFEST).hexdigest(),
    },
)


async def elsewhere_realm() -> FakeUpstream:
    """A Bearer registry on 127.0.0.1 whose token realm is plain http on 127.0.0.2 (which issues tokens the
    registry accepts, so nothing but the rule keeps the credentials at home)."""
    upstream = await FakeUpstream(
        auth="bearer", credentials=("puller", "pw-realm-1"), token_on_storage=True
    ).start()
    upstream.realm = upstream.storage_realm
    upstream.manifests["team/app"] = SERVED
    return upstream


async def test_credentials_are_not_sent_in_clear_to_a_realm_on_another_host(
    cargohold_factory: CargoholdFactory,
) -> None:
    upstream = await elsewhere_realm()
    try:
        server = await asyncio.to_thread(
            cargohold_factory,
            [repository("hub", [proxy("company", upstream.url, username="puller", password="pw-realm-1")])],
        )
        as_admin = (
            server.admin_authorization()
        )  # the failure's message is for those who manage the repository
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0", headers=as_admin)
    finally:
        await upstream.stop()
    assert not [seen for seen in upstream.requests_to(STORAGE_HOST) if seen.authorization is not None]
    assert answer.status == 503
    error = answer.json()["errors"][0]
    assert error["code"] == "UNAVAILABLE"
    (outcome,) = error["detail"]
    assert outcome["proxy"] == "company"
    assert outcome["outcome"] == "protocol"
    assert f"{STORAGE_HOST}:{upstream.storage_port}/token is plain http" in outcome["message"]
    assert "refusing to send" in outcome["message"]
    assert "pw-realm-1" not in server.service.log_text()


async def test_the_pull_fails_over_to_the_next_proxy(cargohold_factory: CargoholdFactory) -> None:
    upstream = await elsewhere_realm()
    try:
        async with FakeUpstream() as honest:
            honest.manifests["team/app"] = SERVED
            server = await asyncio.to_thread(
                cargohold_factory,
                [
                    repository(
                        "hub",
                        [
                            proxy("company", upstream.url, username="puller", password="pw-realm-1"),
                            proxy("public", honest.url),
                        ],
                    )
                ],
            )
            answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0")
    finally:
        await upstream.stop()
    assert answer.status == 200
    assert answer.body == MANIFEST
    assert answer.headers["Cargohold-Upstream"] == "public"
    assert not [seen for seen in upstream.requests_to(STORAGE_HOST) if seen.authorization is not None]
    assert log_lines(server, "proxy company of repository hub failed (protocol)")


async def test_an_anonymous_proxy_still_takes_its_token_from_another_host(
    cargohold_factory: CargoholdFactory,
) -> None:
    upstream = await FakeUpstream(auth="bearer", token_on_storage=True).start()
    upstream.realm = upstream.storage_realm
    upstream.manifests["team/app"] = SERVED
    try:
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("open", upstream.url)])]
        )
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0")
    finally:
        await upstream.stop()
    assert answer.status == 200
    assert answer.body == MANIFEST
    assert upstream.requests_to(STORAGE_HOST, "/token"), "the anonymous token came from the realm it named"
