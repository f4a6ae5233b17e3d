"""A change made through /api/v1 takes effect on the next pull, without a restart: after a move the proxy
moved to the top is asked first, and a deactivated proxy is not asked at all. Both upstreams are fakes that
serve the same image (tests/support/fake_upstream.py), so which one answered is visible in
``Cargohold-Upstream`` and in what each upstream saw."""

from __future__ import annotations

import hashlib
import json

from tests.oci.helpers import Registry
from tests.support.fake_upstream import Answer, FakeUpstream

from .conftest import ManagementApi

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = {"Accept": OCI_MANIFEST}
REPO = "mirror"


def manifest() -> bytes:
    config = b"{}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()


def serve(upstream: FakeUpstream, image: str) -> None:
    body = manifest()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    upstream.manifests[image] = Answer(
        body=body, headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest}
    )


def asked_for(upstream: FakeUpstream, image: str) -> bool:
    return any(seen.path.startswith(f"/v2/{image}/manifests/") for seen in upstream.seen)


async def pull(registry: Registry, image: str) -> str:
    reply = await registry.get(f"/v2/{REPO}/{image}/manifests/latest", headers=ACCEPT)
    assert reply.status == 200, str(reply)
    return reply.headers["Cargohold-Upstream"]


async def test_a_move_changes_which_proxy_the_next_pull_asks_first(api: ManagementApi) -> None:
    registry = Registry(api.client)
    async with FakeUpstream() as first, FakeUpstream() as second:
        for image in ("team/one", "team/two", "team/three"):
            serve(first, image)
            serve(second, image)
        proxies = [{"name": "first", "url": first.url}, {"name": "second", "url": second.url}]
        await api.create_repository(REPO, proxies=proxies)

        assert await pull(registry, "team/one") == "first"
        assert asked_for(first, "team/one")
        assert not asked_for(second, "team/one")

        moved = await api.ok("POST", f"repositories/{REPO}/proxies/second/move", {"position": 1})
        assert [p["name"] for p in moved] == ["second", "first"]
        assert await pull(registry, "team/two") == "second"
        assert asked_for(second, "team/two")
        assert not asked_for(first, "team/two")

        await api.ok("POST", f"repositories/{REPO}/proxies/second/deactivate")
        assert await pull(registry, "team/three") == "first"
        assert not asked_for(second, "team/three")


async def test_a_new_repository_and_a_new_host_answer_pulls_at_once(api: ManagementApi) -> None:
    registry = Registry(api.client)
    async with FakeUpstream() as upstream:
        serve(upstream, "team/app")
        # unknown yet: answered like a private repository (401): anonymous callers cannot tell them apart
        assert (await registry.get("/v2/fresh/team/app/manifests/latest", headers=ACCEPT)).status == 401
        await api.create_repository("fresh", proxies=[{"name": "up", "url": upstream.url}])
        reply = await registry.get("/v2/fresh/team/app/manifests/latest", headers=ACCEPT)
        assert reply.status == 200, str(reply)
        await api.ok("PATCH", "repositories/fresh", {"hosts": ["registry.example"]})
        reply = await registry.get("/v2/team/app/manifests/latest?ns=registry.example", headers=ACCEPT)
        assert reply.status == 200, str(reply)
        assert reply.headers["OCI-Namespace"] == "registry.example"
