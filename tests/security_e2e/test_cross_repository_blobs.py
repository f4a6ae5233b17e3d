"""A blob's bytes are stored once, but readable only through the repositories that hold them.

The attack: someone who administers a public repository points one of its proxies at a server they control
(``FakeUpstream``, hostile on purpose), whose manifest names the digest of a blob in a *private* repository.
An anonymous pull of that digest through the public repository must not hand out the private bytes: the
repository's own proxy has to send them, and a hostile one cannot. Sharing stays where it discloses nothing:
a blob a public repository holds is reused without a second download, and a blob fetched for another
repository is fetched again through the asking repository's own proxies (real Distribution upstreams).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, fetch, proxy, repository, seed_upstream, upstream_requests
from tests.support.accounts import call
from tests.support.clients import ContainerTools
from tests.support.fake_upstream import Answer, FakeUpstream
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_dir_image
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SECRET = b"the private layer: " + os.urandom(300_000)
SECRET_DIGEST = "sha256:" + hashlib.sha256(SECRET).hexdigest()
BAIT_CONFIG = b'{"architecture": "amd64", "os": "linux"}'


def bait_manifest(digest: str, size: int) -> bytes:
    """An image manifest whose one layer is someone else's blob."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + hashlib.sha256(BAIT_CONFIG).hexdigest(),
            "size": len(BAIT_CONFIG),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}
        ],
    }
    return json.dumps(document).encode()


def hostile(upstream: FakeUpstream, digest: str, size: int, lie: bool) -> None:
    """Script the attacker's registry: a manifest naming ``digest``; with ``lie``, it also claims the blob
    (HEAD 200 with the digest) and sends bytes of the right length that are not the blob's."""
    body = bait_manifest(digest, size)
    upstream.manifests["x/app"] = Answer(
        body=body,
        headers={
            "Content-Type": OCI_MANIFEST,
            "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest(),
        },
    )
    if lie:
        upstream.blobs["x/app"] = Answer(body=b"\0" * size, headers={"Docker-Content-Digest": digest})


def push_secret(server: CargoholdServer, name: str) -> None:
    """Push SECRET into ``name`` as the admin (a monolithic upload)."""
    pushed = call(
        f"{server.url}/v2/{name}/blobs/uploads/?digest={SECRET_DIGEST}",
        method="POST",
        data=SECRET,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )
    assert pushed.status == 201, pushed.body


def anonymous_blob(server: CargoholdServer, name: str, digest: str) -> bytes | str:
    """The body of an anonymous blob GET, or what went wrong instead."""
    try:
        answer = fetch(f"{server.url}/v2/{name}/blobs/{digest}")
    except Exception as error:  # the connection is dropped when a streamed body fails verification
        return f"dropped: {error!r}"
    if answer.status != 200:
        return f"status {answer.status}: {answer.body.decode(errors='replace')}"
    return answer.body


def blob_requests(upstream: FakeUpstream, digest: str) -> list[str]:
    return [seen.method for seen in upstream.requests_to("127.0.0.1", f"/v2/x/app/blobs/{digest}")]


@pytest.mark.parametrize("lie", [False, True], ids=["hostile-404", "hostile-claims-it"])
@pytest.mark.parametrize("bait_kind", ["cached", "mixed"])
async def test_a_hostile_proxy_cannot_read_a_private_pushed_blob_through_a_public_repository(
    cargohold_factory: CargoholdFactory, bait_kind: str, lie: bool
) -> None:
    async with FakeUpstream() as evil:
        hostile(evil, SECRET_DIGEST, len(SECRET), lie)
        repositories: list[dict[str, Any]] = [
            {"name": "vault", "visibility": "private"},
            repository("bait", [proxy("evil", evil.url)]),
        ]
        server = await asyncio.to_thread(cargohold_factory, repositories)
        await asyncio.to_thread(push_secret, server, "vault/team/secret")
        if bait_kind == "mixed":  # the public repository also holds pushed content of its own
            await asyncio.to_thread(push_bait_layer, server)
        manifest = await asyncio.to_thread(fetch, f"{server.url}/v2/bait/x/app/manifests/1")
        assert manifest.status == 200, "the hostile manifest itself is cached and served"

        served = await asyncio.to_thread(anonymous_blob, server, "bait/x/app", SECRET_DIGEST)
        again = await asyncio.to_thread(anonymous_blob, server, "bait/x/app", SECRET_DIGEST)
        asked = blob_requests(evil, SECRET_DIGEST)
    assert served != SECRET
    assert again != SECRET
    assert isinstance(served, str)
    if not lie:
        assert served.startswith("status 404")
        assert "BLOB_UNKNOWN" in served
    assert asked, "the bait repository's own proxy was asked for the blob"
    owner = call(
        f"{server.url}/v2/vault/team/secret/blobs/{SECRET_DIGEST}", headers=server.admin_authorization()
    )
    assert owner.status == 200
    assert owner.body == SECRET, "the private repository still serves its blob"


def push_bait_layer(server: CargoholdServer) -> None:
    layer = b"a public layer of the bait repository"
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    pushed = call(
        f"{server.url}/v2/bait/own/image/blobs/uploads/?digest={digest}",
        method="POST",
        data=layer,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )
    assert pushed.status == 201, pushed.body


async def test_a_hostile_proxy_cannot_read_a_blob_cached_for_a_private_repository(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    private_upstream = await asyncio.to_thread(distribution_factory, credentials=("ci", "ci-secret-1"))
    image = await asyncio.to_thread(
        seed_upstream, container_tools, private_upstream, tmp_path / "src", "team/app", "1.0", seed=41
    )
    layer = image.manifests[0].layers[-1]
    async with FakeUpstream() as evil:
        hostile(evil, layer.digest, layer.size, lie=True)
        repositories: list[dict[str, Any]] = [
            repository(
                "vault",
                [proxy("company", private_upstream.url, username="ci", password="ci-secret-1")],
                visibility="private",
            ),
            repository("bait", [proxy("evil", evil.url)]),
        ]
        server = await asyncio.to_thread(cargohold_factory, repositories)
        cached = call(
            f"{server.url}/v2/vault/team/app/blobs/{layer.digest}", headers=server.admin_authorization()
        )
        assert cached.status == 200, "the admin pulled the private layer into the cache"
        private_bytes = cached.body

        assert (await asyncio.to_thread(fetch, f"{server.url}/v2/bait/x/app/manifests/1")).status == 200
        served = await asyncio.to_thread(anonymous_blob, server, "bait/x/app", layer.digest)
        asked = blob_requests(evil, layer.digest)
    assert served != private_bytes
    assert "GET" in asked, "the bait repository had to download the bytes from its own proxy"


def test_a_blob_a_public_repository_holds_is_shared_without_a_second_download(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "library/base", "3", seed=42)
    server = cargohold_factory(
        [
            repository("hub", [proxy("up", upstream.url)]),
            repository("team", [proxy("up", upstream.url)], visibility="private"),
        ]
    )
    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "library/base", "3"), f"dir:{tmp_path / 'a'}"
    )
    container_tools.skopeo(
        "copy", *NO_TLS, "--src-creds", server.admin_creds,
        server.docker_ref("team", "library/base", "3"), f"dir:{tmp_path / 'b'}",
    )  # fmt: skip

    pulled = read_dir_image(tmp_path / "b")
    assert pulled.manifests[0].layer_digests == image.manifests[0].layer_digests
    for blob in image.manifests[0].layers:
        assert len(upstream_requests(upstream, "GET", f"/blobs/{blob.digest}")) == 1, blob.digest


def test_a_blob_only_a_private_repository_holds_is_fetched_again_for_a_public_one(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "src", "library/base", "3", seed=43)
    server = cargohold_factory(
        [
            repository("team", [proxy("up", upstream.url)], visibility="private"),
            repository("hub", [proxy("up", upstream.url)]),
        ]
    )
    container_tools.skopeo(
        "copy", *NO_TLS, "--src-creds", server.admin_creds,
        server.docker_ref("team", "library/base", "3"), f"dir:{tmp_path / 'a'}",
    )  # fmt: skip
    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "library/base", "3"), f"dir:{tmp_path / 'b'}"
    )

    pulled = read_dir_image(tmp_path / "b")
    assert pulled.manifests[0].layer_digests == image.manifests[0].layer_digests
    for blob in image.manifests[0].layers:
        assert len(upstream_requests(upstream, "GET", f"/blobs/{blob.digest}")) == 2, blob.digest
