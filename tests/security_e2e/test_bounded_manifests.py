"""A manifest is bounded, pushed or fetched through a proxy alike: at most 10,000 descriptors, no
descriptor larger than the largest blob (64 GiB), and no chain of more than 4 indexes nested in each other.

Nothing else stops them: non-distributable layers need not be present, so a push of a few megabytes can
name tens of thousands of layers or sizes of exabytes, and an upstream can serve an index of indexes as
deep as it likes. A push past a bound gets 400 MANIFEST_INVALID; a proxy that serves one fails with bad
content. The proxied cases use a fake upstream on purpose (tests/support/fake_upstream.py): a real one
does not serve such manifests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from tests.proxy_e2e.upstreams import manifest, proxy, repository
from tests.support.accounts import Reply, call
from tests.support.fake_upstream import Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = b'{"architecture": "amd64", "os": "linux"}'
FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"  # need not be pushed
LAYER = "sha256:" + hashlib.sha256(b"somewhere else").hexdigest()


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def image(layer_count: int = 1, layer_size: int = 100) -> bytes:
    config = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": digest(CONFIG),
        "size": len(CONFIG),
    }
    layers = [{"mediaType": FOREIGN, "digest": LAYER, "size": layer_size}] * layer_count
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
    ).encode()


def index(child: bytes, media_type: str) -> bytes:
    entry = {"mediaType": media_type, "digest": digest(child), "size": len(child)}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()


def nested(depth: int) -> list[bytes]:
    """An image manifest, then ``depth`` indexes each holding the one before it (the last is the top)."""
    chain = [image()]
    for level in range(depth):
        chain.append(index(chain[-1], OCI_MANIFEST if level == 0 else OCI_INDEX))
    return chain


def put(server: CargoholdServer, reference: str, body: bytes, content_type: str) -> Reply:
    return call(
        f"{server.url}/v2/local/team/app/manifests/{reference}",
        method="PUT",
        data=body,
        headers={**server.admin_authorization(), "Content-Type": content_type},
    )


def push_config(server: CargoholdServer) -> None:
    pushed = call(
        f"{server.url}/v2/local/team/app/blobs/uploads/?digest={digest(CONFIG)}",
        method="POST",
        data=CONFIG,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )
    assert pushed.status == 201, pushed.body


def refused(reply: Reply, *words: str) -> None:
    assert reply.status == 400, reply.body
    error = json.loads(reply.body)["errors"][0]
    assert error["code"] == "MANIFEST_INVALID"
    for word in words:
        assert word in error["message"], error["message"]


@pytest.fixture
def local(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    server = cargohold_factory([{"name": "local", "visibility": "public"}])
    push_config(server)
    return server


def test_a_push_with_more_than_10000_descriptors_is_refused(local: CargoholdServer) -> None:
    assert put(local, "most", image(layer_count=9_999), OCI_MANIFEST).status == 201
    refused(put(local, "too-many", image(layer_count=10_000), OCI_MANIFEST), "10001 descriptors", "10000")


def test_a_push_naming_a_blob_larger_than_64_gib_is_refused(local: CargoholdServer) -> None:
    assert put(local, "largest", image(layer_size=64 * 1024**3), OCI_MANIFEST).status == 201
    refused(
        put(local, "larger", image(layer_size=64 * 1024**3 + 1), OCI_MANIFEST),
        "layers[0].size",
        "largest blob",
    )


def test_a_pushed_index_nesting_deeper_than_4_levels_is_refused(local: CargoholdServer) -> None:
    chain = nested(5)
    assert put(local, "image", chain[0], OCI_MANIFEST).status == 201
    for level, body in enumerate(chain[1:-1], start=1):
        assert put(local, f"level-{level}", body, OCI_INDEX).status == 201, level
    refused(put(local, "level-5", chain[-1], OCI_INDEX), "nest 5 levels", "at most 4")


def served(body: bytes, content_type: str) -> Answer:
    return Answer(body=body, headers={"Content-Type": content_type, "Docker-Content-Digest": digest(body)})


async def test_a_proxied_index_nesting_deeper_than_4_levels_is_bad_content(
    cargohold_factory: CargoholdFactory,
) -> None:
    chain = nested(5)
    async with FakeUpstream() as deep:
        deep.manifests_by_reference[("team/app", "top")] = served(chain[-1], OCI_INDEX)
        for body in chain[1:]:
            deep.manifests_by_reference[("team/app", digest(body))] = served(body, OCI_INDEX)
        deep.manifests_by_reference[("team/app", digest(chain[0]))] = served(chain[0], OCI_MANIFEST)
        server = await asyncio.to_thread(cargohold_factory, [repository("hub", [proxy("deep", deep.url)])])
        answers = [await asyncio.to_thread(manifest, server, "hub/team/app", "top")]
        as_admin = (
            server.admin_authorization()
        )  # the failure's message is for those who manage the repository
        for body in reversed(chain[1:-1]):  # the way a client walks down: each child by digest
            answers.append(
                await asyncio.to_thread(manifest, server, "hub/team/app", digest(body), headers=as_admin)
            )
    assert [answer.status for answer in answers] == [200, 200, 200, 200, 503]
    (outcome,) = answers[-1].json()["errors"][0]["detail"]
    assert outcome["outcome"] == "bad_content"
    assert "at most 4" in outcome["message"]


async def test_a_proxied_manifest_with_too_many_descriptors_is_bad_content(
    cargohold_factory: CargoholdFactory,
) -> None:
    async with FakeUpstream() as wide, FakeUpstream() as honest:
        wide.manifests["team/app"] = served(image(layer_count=10_000), OCI_MANIFEST)
        honest.manifests["team/app"] = served(image(), OCI_MANIFEST)
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("wide", wide.url), proxy("honest", honest.url)])]
        )
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0")
    assert answer.status == 200
    assert answer.headers["Cargohold-Upstream"] == "honest"
    assert "descriptors" in server.service.log_text()
