"""Push details beyond the happy path (distribution-spec v1.1, "Pushing blobs", "Pushing Manifests",
"Use Cases: Layer Upload De-duplication"): sha512 digests end to end, concurrent and interleaved upload
sessions, Content-Range edge cases on PATCH and on the closing PUT, and the separation of the manifest and
blob namespaces."""

from __future__ import annotations

import asyncio
import hashlib
import json

from .helpers import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Registry,
    digest_of,
    encode,
    expect_error,
    push_blob,
    push_image,
    push_manifest,
    random_blob,
    start_upload,
)

OCTET = {"Content-Type": "application/octet-stream"}


def sha512_of(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def chunk_headers(start: int, data: bytes) -> dict[str, str]:
    return OCTET | {"Content-Range": f"{start}-{start + len(data) - 1}", "Content-Length": str(len(data))}


async def push_blob_sha512(registry: Registry, name: str, data: bytes) -> str:
    digest = sha512_of(data)
    location = (await start_upload(registry, name)).location()
    reply = await registry.put(location.update_query(digest=digest), data, headers=OCTET)
    assert reply.status == 201, str(reply)
    assert reply.headers.get("Docker-Content-Digest") == digest, str(reply)
    return digest


async def test_sha512_blob(registry: Registry, name: str) -> None:
    data = random_blob(700)
    digest = await push_blob_sha512(registry, name, data)
    for method in ("GET", "HEAD"):
        reply = await registry.request(method, f"/v2/{name}/blobs/{digest}")
        assert reply.status == 200, str(reply)
        assert reply.headers.get("Docker-Content-Digest") == digest
        assert reply.headers.get("Content-Length") == str(len(data))
        assert reply.body == (data if method == "GET" else b"")


async def test_sha512_blob_with_wrong_content(registry: Registry, name: str) -> None:
    data = random_blob(70)
    location = (await start_upload(registry, name)).location()
    reply = await registry.put(location.update_query(digest=sha512_of(data + b"!")), data, headers=OCTET)
    expect_error(reply, 400, "DIGEST_INVALID")


async def test_sha512_manifest_by_digest(registry: Registry, name: str) -> None:
    config, layer = b'{"os":"linux"}', random_blob(90)
    config_digest = await push_blob_sha512(registry, name, config)
    layer_digest = await push_blob_sha512(registry, name, layer)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    body = encode(document)
    digest = sha512_of(body)
    reply = await registry.put(f"/v2/{name}/manifests/{digest}", body, headers={"Content-Type": OCI_MANIFEST})
    # A registry may decline an algorithm: "if the client provided digest is invalid or uses an unsupported
    # algorithm, the registry SHOULD respond with a response code 400 Bad Request" (405 is not among the
    # answers the spec lists for a manifest PUT). Accepted, the manifest must then be served under it.
    if reply.status != 201:
        expect_error(reply, 400, "UNSUPPORTED", "DIGEST_INVALID")
        return
    # v1.1: Docker-Content-Digest "MUST be equal to the client provided digest".
    assert reply.headers.get("Docker-Content-Digest") == digest, str(reply)
    pulled = await registry.get(f"/v2/{name}/manifests/{digest}")
    assert pulled.status == 200, str(pulled)
    assert pulled.body == body
    assert pulled.headers.get("Docker-Content-Digest") == digest


async def test_concurrent_uploads_of_the_same_blob(registry: Registry, name: str) -> None:
    """ "If process A and B upload the same layer at the same time, both operations will proceed"."""
    data = random_blob(256 * 1024)
    digests = await asyncio.gather(*(push_blob(registry, name, data) for _ in range(4)))
    assert set(digests) == {digest_of(data)}
    reply = await registry.get(f"/v2/{name}/blobs/{digest_of(data)}")
    assert reply.status == 200, str(reply)
    assert reply.body == data


async def test_interleaved_chunked_sessions(registry: Registry, name: str) -> None:
    first, second = random_blob(200), random_blob(300)
    a = (await start_upload(registry, name)).location()
    b = (await start_upload(registry, name)).location()
    a = (await registry.patch(a, first[:100], headers=chunk_headers(0, first[:100]))).location()
    b = (await registry.patch(b, second[:150], headers=chunk_headers(0, second[:150]))).location()
    reply_a = await registry.patch(a, first[100:], headers=chunk_headers(100, first[100:]))
    reply_b = await registry.patch(b, second[150:], headers=chunk_headers(150, second[150:]))
    assert reply_a.headers.get("Range") == "0-199", str(reply_a)
    assert reply_b.headers.get("Range") == "0-299", str(reply_b)
    for reply, data in ((reply_a, first), (reply_b, second)):
        done = await registry.put(reply.location().update_query(digest=digest_of(data)), b"")
        assert done.status == 201, str(done)
        pulled = await registry.get(done.location())
        assert pulled.body == data


async def test_malformed_content_range(registry: Registry, name: str) -> None:
    data = random_blob(10)
    location = (await start_upload(registry, name)).location()
    for content_range in ("abc", "9-0", "-9", "0-"):
        reply = await registry.patch(location, data, headers=OCTET | {"Content-Range": content_range})
        # Older text of the spec answers an invalid Content-Range format with 416; v1.1 only fixes the
        # format (^[0-9]+-[0-9]+$). 400 BLOB_UPLOAD_INVALID and 416 are both accepted.
        assert reply.status in {400, 416}, str(reply)
        if reply.status == 400:
            expect_error(reply, 400, "BLOB_UPLOAD_INVALID")


async def test_closing_put_with_chunk_out_of_order(registry: Registry, name: str) -> None:
    data = random_blob(40)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data[:20], headers=chunk_headers(0, data[:20]))
    assert reply.status == 202, str(reply)
    tail = data[30:]
    reply = await registry.put(
        reply.location().update_query(digest=digest_of(data)), tail, headers=chunk_headers(30, tail)
    )
    assert reply.status == 416, str(reply)
    expect_error(await registry.get(f"/v2/{name}/blobs/{digest_of(data)}"), 404, "BLOB_UNKNOWN")


async def test_closing_put_appends_a_chunk_without_content_range(registry: Registry, name: str) -> None:
    data = random_blob(40)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data[:25], headers=chunk_headers(0, data[:25]))
    closing = reply.location().update_query(digest=digest_of(data))
    reply = await registry.put(closing, data[25:], headers=OCTET)
    assert reply.status == 201, str(reply)
    assert (await registry.get(reply.location())).body == data


async def test_manifest_and_blob_namespaces_are_separate(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "latest")
    for digest in (digest_of(image.layer), digest_of(image.config)):
        expect_error(await registry.get(f"/v2/{name}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")


async def test_referrers_tag_schema_tag_is_an_ordinary_tag(registry: Registry, name: str) -> None:
    """Clients without the referrers API keep an index under the tag ``sha256-<hex>``; it must be a valid
    tag like any other."""
    subject = await push_image(registry, name, "latest")
    tag = subject.digest.replace(":", "-")
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    await push_manifest(registry, name, tag, body, OCI_INDEX)
    reply = await registry.get(f"/v2/{name}/manifests/{tag}")
    assert reply.status == 200, str(reply)
    assert json.loads(reply.body)["manifests"] == []
    assert tag in (await registry.get(f"/v2/{name}/tags/list")).json()["tags"]


async def test_repushing_a_blob_and_a_manifest_is_idempotent(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "latest")
    await push_blob(registry, name, image.layer)
    await push_manifest(registry, name, "latest", image.manifest, OCI_MANIFEST)
    await push_manifest(registry, name, image.digest, image.manifest, OCI_MANIFEST)
    assert (await registry.get(f"/v2/{name}/tags/list")).json()["tags"] == ["latest"]
