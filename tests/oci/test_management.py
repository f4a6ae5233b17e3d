"""Content management (distribution-spec v1.1, "Deleting tags", "Deleting Manifests", "Deleting Blobs";
end-9, end-10): what a DELETE removes, what it leaves, and how unknown targets answer."""

from __future__ import annotations

from .helpers import (
    OCI_MANIFEST,
    Registry,
    digest_of,
    expect_error,
    push_artifact,
    push_blob,
    push_image,
    push_manifest,
    random_blob,
    random_image,
)


async def test_delete_manifest_by_digest(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "latest")
    await push_manifest(registry, name, "stable", image.manifest, OCI_MANIFEST)
    reply = await registry.delete(f"/v2/{name}/manifests/{image.digest}")
    assert reply.status == 202, str(reply)
    # "Once deleted, a GET to /v2/<name>/manifests/<digest> and any tag pointing to that digest will
    # return a 404."
    for reference in (image.digest, "latest", "stable"):
        expect_error(await registry.get(f"/v2/{name}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
        assert (await registry.head(f"/v2/{name}/manifests/{reference}")).status == 404
    tags = await registry.get(f"/v2/{name}/tags/list")
    # The image may now be gone altogether (404 NAME_UNKNOWN) or listed without tags; both are fine.
    if tags.status == 200:
        assert tags.json()["tags"] == []
    else:
        expect_error(tags, 404, "NAME_UNKNOWN")


async def test_deleted_manifest_can_be_pushed_again(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "latest")
    assert (await registry.delete(f"/v2/{name}/manifests/{image.digest}")).status == 202
    await push_manifest(registry, name, "again", image.manifest, OCI_MANIFEST)
    reply = await registry.get(f"/v2/{name}/manifests/{image.digest}")
    assert reply.status == 200, str(reply)
    assert reply.body == image.manifest


async def test_delete_manifest_in_one_image_keeps_it_in_another(registry: Registry) -> None:
    first, second = random_image(), random_image()
    image = await push_image(registry, first, "latest")
    await push_blob(registry, second, image.config)
    await push_blob(registry, second, image.layer)
    await push_manifest(registry, second, "latest", image.manifest, OCI_MANIFEST)
    assert (await registry.delete(f"/v2/{first}/manifests/{image.digest}")).status == 202
    reply = await registry.get(f"/v2/{second}/manifests/latest")
    assert reply.status == 200, str(reply)
    assert reply.body == image.manifest


async def test_delete_tag(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "latest")
    await push_manifest(registry, name, "stable", image.manifest, OCI_MANIFEST)
    reply = await registry.delete(f"/v2/{name}/manifests/latest")
    # "If tag deletion is disabled, the registry MUST respond with either a 400 Bad Request or a 405 Method
    # Not Allowed": refusing is conformant, but then nothing may change.
    assert reply.status in {202, 400, 405}, str(reply)
    if reply.status != 202:
        assert (await registry.get(f"/v2/{name}/manifests/latest")).status == 200
        return
    expect_error(await registry.get(f"/v2/{name}/manifests/latest"), 404, "MANIFEST_UNKNOWN")
    for reference in (image.digest, "stable"):
        reply = await registry.get(f"/v2/{name}/manifests/{reference}")
        assert reply.status == 200, str(reply)
        assert reply.body == image.manifest
    assert (await registry.get(f"/v2/{name}/tags/list")).json()["tags"] == ["stable"]


async def test_delete_unknown_manifest(registry: Registry, name: str) -> None:
    await push_image(registry, name, "latest")
    reply = await registry.delete(f"/v2/{name}/manifests/{digest_of(random_blob(8))}")
    expect_error(reply, 404, "MANIFEST_UNKNOWN")
    reply = await registry.delete(f"/v2/{name}/manifests/nosuchtag")
    expect_error(reply, 404, "MANIFEST_UNKNOWN")


async def test_delete_manifest_twice(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "latest")
    await push_image(registry, name, "keep")
    assert (await registry.delete(f"/v2/{name}/manifests/{image.digest}")).status == 202
    expect_error(await registry.delete(f"/v2/{name}/manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN")


async def test_delete_manifest_in_unknown_image(registry: Registry) -> None:
    await push_image(registry, random_image(), "latest")
    reply = await registry.delete(f"/v2/{random_image()}/manifests/{digest_of(b'x')}")
    expect_error(reply, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


async def test_deleted_referrer_leaves_the_referrers_list(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    body, _ = await push_artifact(registry, name, subject)
    assert (await registry.delete(f"/v2/{name}/manifests/{digest_of(body)}")).status == 202
    reply = await registry.get(f"/v2/{name}/referrers/{subject.digest}")
    assert reply.status == 200, str(reply)
    assert reply.json()["manifests"] == []


async def test_delete_blob(registry: Registry, name: str) -> None:
    await push_image(registry, name, "latest")
    data = random_blob(128)
    digest = await push_blob(registry, name, data)
    reply = await registry.delete(f"/v2/{name}/blobs/{digest}")
    assert reply.status == 202, str(reply)
    expect_error(await registry.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert (await registry.head(f"/v2/{name}/blobs/{digest}")).status == 404
    expect_error(await registry.delete(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


async def test_delete_blob_in_one_image_keeps_it_in_another(registry: Registry) -> None:
    first, second = random_image(), random_image()
    data = random_blob(64)
    digest = await push_blob(registry, first, data)
    await push_blob(registry, second, data)
    assert (await registry.delete(f"/v2/{first}/blobs/{digest}")).status == 202
    reply = await registry.get(f"/v2/{second}/blobs/{digest}")
    assert reply.status == 200, str(reply)
    assert reply.body == data


async def test_deleted_blob_can_be_pushed_again(registry: Registry, name: str) -> None:
    data = random_blob(64)
    digest = await push_blob(registry, name, data)
    assert (await registry.delete(f"/v2/{name}/blobs/{digest}")).status == 202
    assert await push_blob(registry, name, data) == digest
    reply = await registry.get(f"/v2/{name}/blobs/{digest}")
    assert reply.status == 200, str(reply)
    assert reply.body == data


async def test_delete_unknown_blob(registry: Registry, name: str) -> None:
    await push_image(registry, name, "latest")
    reply = await registry.delete(f"/v2/{name}/blobs/{digest_of(random_blob(8))}")
    expect_error(reply, 404, "BLOB_UNKNOWN")


async def test_delete_blob_with_malformed_digest(registry: Registry, name: str) -> None:
    await push_image(registry, name, "latest")
    expect_error(await registry.delete(f"/v2/{name}/blobs/sha256:xyz"), 400, "DIGEST_INVALID")
