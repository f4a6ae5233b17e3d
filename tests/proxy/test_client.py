"""``UpstreamClient`` against real CNCF Distribution upstreams: plain HTTP anonymous, and HTTPS with a
self-signed certificate and htpasswd Basic auth. Images are put into the upstream with skopeo first.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from cargohold.errors import FailureKind, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Digest, MediaType, Proxy, Reference
from cargohold.proxy.client import UpstreamClient
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import DistributionFactory
from tests.support.images import Image, write_image

pytestmark = pytest.mark.clients

CREDENTIALS = ("alice", "s3cret-pass")


async def push(
    tools: ContainerTools, image: Image, upstream: DistributionRegistry, name: str, *extra: str
) -> None:
    """skopeo copy of an OCI layout into the upstream (in a thread: the test's loop may serve a realm)."""
    args = [*extra] if extra else ["--dest-tls-verify=false"]
    dest = f"docker://{upstream.ref(name, image.tag or 'latest')}"
    await asyncio.to_thread(tools.skopeo, "copy", *args, f"oci:{image.reference}", dest)


async def read_blob(client: UpstreamClient, name: str, digest: str) -> bytes:
    blob = await client.open_blob(name, Digest.parse(digest))
    try:
        return b"".join([chunk async for chunk in blob.iter_chunks()])
    finally:
        await blob.close()


def layout_bytes(image: Image, digest: str) -> bytes:
    return (image.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


async def test_anonymous_plain_http_pull(
    distribution_factory: DistributionFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    upstream = distribution_factory()
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(300_000,), seed=3)
    await push(container_tools, image, upstream, "team/app")
    manifest = image.manifests[0]

    async with UpstreamClient(Proxy("plain", upstream.url)) as client:
        by_tag = await client.get_manifest("team/app", Reference(tag="1.0"))
        assert str(by_tag.digest) == image.digest
        assert by_tag.media_type == MediaType.OCI_MANIFEST
        assert by_tag.content == layout_bytes(image, image.digest)

        by_digest = await client.get_manifest("team/app", Reference(digest=Digest.parse(image.digest)))
        assert by_digest.content == by_tag.content

        head = await client.head_manifest("team/app", Reference(tag="1.0"))
        assert (str(head.digest), head.media_type, head.size) == (
            image.digest,
            MediaType.OCI_MANIFEST,
            len(by_tag.content),
        )

        layer = manifest.layers[0]
        blob = await client.open_blob("team/app", Digest.parse(layer.digest))
        chunks = [chunk async for chunk in blob.iter_chunks()]
        await blob.close()
        assert blob.size == layer.size
        assert len(chunks) > 1, "a 300 kB layer arrives in several chunks, not one buffer"
        assert max(len(c) for c in chunks) <= 256 * 1024
        assert "sha256:" + hashlib.sha256(b"".join(chunks)).hexdigest() == layer.digest


async def test_missing_things_are_not_found(
    distribution_factory: DistributionFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    upstream = distribution_factory()
    image = write_image(tmp_path / "layout", tag="1.0", seed=4)
    await push(container_tools, image, upstream, "team/app")
    absent = Digest.of(b"not in the upstream")

    async with UpstreamClient(Proxy("plain", upstream.url)) as client:
        with pytest.raises(UpstreamNotFoundError) as tag_missing:
            await client.get_manifest("team/app", Reference(tag="2.0"))
        with pytest.raises(UpstreamNotFoundError):
            await client.head_manifest("team/app", Reference(tag="2.0"))
        with pytest.raises(UpstreamNotFoundError):
            await client.get_manifest("team/other", Reference(tag="1.0"))
        with pytest.raises(UpstreamNotFoundError):
            await client.open_blob("team/app", absent)

    assert tag_missing.value.proxy_name == "plain"
    assert "plain" in tag_missing.value.message
    assert "404" in tag_missing.value.message


async def test_tls_self_signed_with_basic_auth(
    distribution_factory: DistributionFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    upstream = distribution_factory(tls=True, credentials=CREDENTIALS)
    assert upstream.tls is not None
    image = write_image(tmp_path / "layout", tag="1.0", seed=5)
    cert_dir = str(upstream.tls.cert_dir)
    await push(
        container_tools,
        image,
        upstream,
        "private/app",
        "--dest-cert-dir",
        cert_dir,
        "--dest-creds",
        ":".join(CREDENTIALS),
    )
    ref = Reference(tag="1.0")
    user, password = CREDENTIALS

    # ssl_validation off and the right password: works, manifest and blob
    async with UpstreamClient(Proxy("tls", upstream.url, user, password, ssl_validation=False)) as client:
        fetched = await client.get_manifest("private/app", ref)
        assert str(fetched.digest) == image.digest
        config = image.manifests[0].config
        assert await read_blob(client, "private/app", config.digest) == layout_bytes(image, config.digest)

    # ssl_validation on: the self-signed certificate is refused, and the message says why
    async with UpstreamClient(Proxy("tls-strict", upstream.url, user, password)) as client:
        with pytest.raises(UpstreamFailedError) as refused:
            await client.get_manifest("private/app", ref)
    assert refused.value.kind is FailureKind.TLS
    assert "self-signed certificate" in refused.value.message
    assert "tls-strict" in refused.value.message

    # a wrong password is credentials rejected, and never appears in the message
    async with UpstreamClient(
        Proxy("tls", upstream.url, user, "wrong-pass-123", ssl_validation=False)
    ) as client:
        with pytest.raises(UpstreamFailedError) as wrong:
            await client.get_manifest("private/app", ref)
    assert wrong.value.kind is FailureKind.CREDENTIALS_REJECTED
    assert "wrong-pass-123" not in str(wrong.value)

    # no credentials at all, where the upstream wants them
    async with UpstreamClient(Proxy("tls", upstream.url, ssl_validation=False)) as client:
        with pytest.raises(UpstreamFailedError) as anonymous:
            await client.head_manifest("private/app", ref)
    assert anonymous.value.kind is FailureKind.CREDENTIALS_REJECTED


async def test_nothing_listening_is_unreachable(distribution_factory: DistributionFactory) -> None:
    upstream = distribution_factory()
    url = upstream.url
    upstream.stop()

    async with UpstreamClient(Proxy("gone", url, connection_timeout_ms=300)) as client:
        with pytest.raises(UpstreamFailedError) as error:
            await client.get_manifest("team/app", Reference(tag="1.0"))
    assert error.value.kind is FailureKind.UNREACHABLE
    assert "gone" in error.value.message
    assert upstream.host in error.value.message
