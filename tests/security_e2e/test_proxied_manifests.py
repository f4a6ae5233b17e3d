"""Content fetched through a proxy is held to the rules of a push: a manifest a push would be refused with
400 MANIFEST_INVALID is not cached, not served, and counts as bad content of the proxy that sent it, so the
next proxy is asked.

The upstreams are fakes on purpose (tests/support/fake_upstream.py): a real registry does not serve
descriptors with path-like or upper-case digests, negative sizes, or a body that is not what its
Content-Type says. Each of those is a way to smuggle content a local push could never store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import fetch, log_lines, manifest, proxy, repository
from tests.support.accounts import call
from tests.support.fake_upstream import Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = b'{"architecture": "amd64", "os": "linux"}'
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
LAYER_DIGEST = "sha256:" + hashlib.sha256(b"a layer").hexdigest()


def image(layer: dict[str, Any], *, media_type: str | None = OCI_MANIFEST) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": CONFIG_DIGEST,
            "size": len(CONFIG),
        },
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    if media_type is not None:
        document["mediaType"] = media_type
    return json.dumps(document).encode()


GOOD = image({"digest": LAYER_DIGEST, "size": 7})
BAD: dict[str, tuple[bytes, str]] = {
    "path-like digest": (image({"digest": "sha256:../../x", "size": 7}), OCI_MANIFEST),
    "upper-case digest": (
        image({"digest": LAYER_DIGEST.upper().replace("SHA256", "sha256"), "size": 7}),
        OCI_MANIFEST,
    ),
    "short digest": (image({"digest": "sha256:abc", "size": 7}), OCI_MANIFEST),
    "negative size": (image({"digest": LAYER_DIGEST, "size": -1}), OCI_MANIFEST),
    "image served as an index": (image({"digest": LAYER_DIGEST, "size": 7}, media_type=None), OCI_INDEX),
}


def served(body: bytes, content_type: str) -> Answer:
    return Answer(
        body=body,
        headers={
            "Content-Type": content_type,
            "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest(),
        },
    )


def stored_files(server: CargoholdServer) -> set[str]:
    return {path.name for path in Path(server.data_dir / "blobs").rglob("*") if path.is_file()}


def push(server: CargoholdServer, name: str, body: bytes, content_type: str) -> tuple[int, str]:
    answer = call(
        f"{server.url}/v2/{name}/manifests/1.0",
        method="PUT",
        data=body,
        headers={**server.admin_authorization(), "Content-Type": content_type},
    )
    return answer.status, answer.body.decode(errors="replace")


@pytest.mark.parametrize("fault", sorted(BAD))
async def test_a_manifest_a_push_would_be_refused_is_not_cached_and_the_next_proxy_answers(
    fault: str, cargohold_factory: CargoholdFactory
) -> None:
    body, content_type = BAD[fault]
    bad_digest = "sha256:" + hashlib.sha256(body).hexdigest()
    async with FakeUpstream() as hostile, FakeUpstream() as honest:
        hostile.manifests["team/app"] = served(body, content_type)
        honest.manifests["team/app"] = served(GOOD, OCI_MANIFEST)
        server = await asyncio.to_thread(
            cargohold_factory,
            [
                repository("hub", [proxy("hostile", hostile.url), proxy("honest", honest.url)]),
                {"name": "local", "visibility": "public"},
            ],
        )
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0")
        by_digest = await asyncio.to_thread(manifest, server, "hub/team/app", bad_digest)
        pushed = await asyncio.to_thread(push, server, "local/team/app", body, content_type)

    assert answer.status == 200
    assert answer.body == GOOD
    assert answer.headers["Cargohold-Upstream"] == "honest"
    assert log_lines(server, "proxy hostile of repository hub failed (bad_content)")
    assert by_digest.status != 200, "the hostile bytes are never served"
    assert bad_digest.removeprefix("sha256:") not in stored_files(server), "nor kept"
    assert pushed[0] == 400, "the same rules a push is held to"
    assert "MANIFEST_INVALID" in pushed[1]


async def test_with_no_other_proxy_the_pull_fails_naming_the_bad_content(
    cargohold_factory: CargoholdFactory,
) -> None:
    body, content_type = BAD["path-like digest"]
    async with FakeUpstream() as hostile:
        hostile.manifests["team/app"] = served(body, content_type)
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("hostile", hostile.url)])]
        )
        as_admin = (
            server.admin_authorization()
        )  # the failure's message is for those who manage the repository
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0", headers=as_admin)
        again = await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/manifests/1.0")
    assert answer.status == 503
    (outcome,) = answer.json()["errors"][0]["detail"]
    assert outcome["outcome"] == "bad_content"
    assert "layers[0].digest" in outcome["message"]
    assert again.status == 503, "nothing was cached to fall back on"
    assert stored_files(server) == set()
