"""What a broken upstream leaves behind: nothing. These upstreams are fakes on purpose (tests/support/
fake_upstream.py): a real Distribution never sends a body that does not match its digest, stops halfway,
or rate-limits on demand. cargohold itself is the real server, started as a user starts it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import fetch, manifest, proxy, repository
from tests.support.fake_upstream import Answer, FakeUpstream, RawUpstream, partial_body
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = b"layer bytes " * 50_000
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def image_manifest() -> bytes:
    config = b"{}"
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": LAYER_DIGEST,
                "size": len(LAYER),
            }
        ],
    }
    return json.dumps(document).encode()


def stored_blobs(server: CargoholdServer) -> list[Path]:
    return sorted(path for path in (server.data_dir / "blobs").rglob("*") if path.is_file())


async def test_a_manifest_that_does_not_match_its_digest_is_not_cached_and_the_next_proxy_answers(
    cargohold_factory: CargoholdFactory,
) -> None:
    good = image_manifest()
    good_digest = "sha256:" + hashlib.sha256(good).hexdigest()
    async with FakeUpstream() as liar, FakeUpstream() as honest:
        liar.manifests["team/app"] = Answer(
            body=good + b" ",
            headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": good_digest},
        )
        honest.manifests["team/app"] = Answer(
            body=good, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": good_digest}
        )
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("liar", liar.url), proxy("honest", honest.url)])]
        )
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0")
    assert answer.status == 200
    assert answer.body == good
    assert answer.headers["Cargohold-Upstream"] == "honest"
    assert "proxy liar of repository hub failed (bad_content)" in server.service.log_text()


@pytest.mark.parametrize("fault", ["wrong bytes", "truncated"])
async def test_a_blob_that_is_wrong_or_cut_short_is_never_served_whole_or_kept(
    fault: str, cargohold_factory: CargoholdFactory
) -> None:
    if fault == "wrong bytes":
        body = LAYER[:-1] + b"!"
        script = partial_body(len(body), body, then_stall=False)
    else:
        script = partial_body(len(LAYER), LAYER[: len(LAYER) // 2], then_stall=False)
    async with RawUpstream(script) as broken:
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("broken", broken.url)])]
        )
        url = f"{server.url}/v2/hub/team/app/blobs/{LAYER_DIGEST}"
        answer = await asyncio.to_thread(_get_or_error, url)
    assert answer != LAYER
    assert stored_blobs(server) == []
    assert not list((server.data_dir / "uploads").glob("*")), "no spool left behind"


def _get_or_error(url: str) -> bytes | str:
    try:
        answer = fetch(url)
    except Exception as error:  # a dropped connection mid-body is the expected outcome here
        return f"dropped: {error!r}"
    return answer.body if answer.status == 200 else f"status {answer.status}"


async def test_when_every_upstream_rate_limits_the_client_gets_429_with_retry_after(
    cargohold_factory: CargoholdFactory,
) -> None:
    limited = Answer(
        status=429, body=b"You have reached your pull rate limit.", headers={"Retry-After": "120"}
    )
    async with FakeUpstream() as first, FakeUpstream() as second:
        first.manifests["team/app"] = limited
        second.manifests["team/app"] = limited
        server = await asyncio.to_thread(
            cargohold_factory, [repository("hub", [proxy("first", first.url), proxy("second", second.url)])]
        )
        answer = await asyncio.to_thread(manifest, server, "hub/team/app", "1.0")
    assert answer.status == 429
    assert answer.headers["Retry-After"] == "120"
    error = answer.json()["errors"][0]
    assert error["code"] == "TOOMANYREQUESTS"
    assert [entry["outcome"] for entry in error["detail"]] == ["rate_limited", "rate_limited"]


async def test_credentials_never_follow_a_blob_redirect_to_another_host(
    cargohold_factory: CargoholdFactory,
) -> None:
    async with FakeUpstream(auth="basic", credentials=("puller", "pw-123")) as upstream:
        upstream.blobs["team/app"] = Answer(redirect_to=f"{upstream.storage_url}/bucket/layer?sig=abc")
        upstream.storage["/bucket/layer"] = Answer(body=LAYER)
        server = await asyncio.to_thread(
            cargohold_factory,
            [repository("hub", [proxy("up", upstream.url, username="puller", password="pw-123")])],
        )
        answer = await asyncio.to_thread(fetch, f"{server.url}/v2/hub/team/app/blobs/{LAYER_DIGEST}")
        storage_requests = upstream.requests_to("127.0.0.2")
        registry_requests = upstream.requests_to("127.0.0.1", "/v2/team/app/blobs/")
    assert answer.status == 200
    assert answer.body == LAYER
    assert storage_requests
    assert all(seen.authorization is None for seen in storage_requests)
    assert any(seen.authorization is not None for seen in registry_requests)
