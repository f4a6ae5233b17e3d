"""Manifests (distribution-spec v1.1, "Pulling manifests", "Pushing Manifests", "Pushing Manifests with
Subject"): every manifest kind a client pushes, pulled back byte for byte by tag and by digest (end-3,
end-7), and the validation a PUT goes through."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from .helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_CONFIG,
    EMPTY_CONFIG_DIGEST,
    MAX_MANIFEST_BYTES,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Registry,
    descriptor,
    digest_of,
    encode,
    expect_error,
    push_blob,
    push_image,
    push_manifest,
    put_manifest,
    random_blob,
    random_image,
)

Built = tuple[bytes, str, str | None]  # manifest bytes, media type, subject digest
Builder = Callable[[Registry, str], Awaitable[Built]]


async def docker_manifest(registry: Registry, name: str) -> Built:
    config, layer = b'{"architecture":"amd64","os":"linux","rootfs":{}}', random_blob(300)
    await push_blob(registry, name, config)
    await push_blob(registry, name, layer)
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER, layer)],
    }
    return encode(document), DOCKER_MANIFEST, None


async def docker_manifest_list(registry: Registry, name: str) -> Built:
    children = []
    for arch in ("amd64", "arm64"):
        body, media_type, _ = await docker_manifest(registry, name)
        await push_manifest(registry, name, digest_of(body), body, media_type)
        children.append(descriptor(media_type, body, platform={"architecture": arch, "os": "linux"}))
    return (
        encode({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": children}),
        DOCKER_MANIFEST_LIST,
        None,
    )


async def oci_manifest(registry: Registry, name: str) -> Built:
    image = await push_image(registry, name, None, annotations={"org.example.key": "value"})
    return image.manifest, OCI_MANIFEST, None


async def oci_index(registry: Registry, name: str) -> Built:
    first = await push_image(registry, name, None)
    second = await push_image(registry, name, None)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(OCI_MANIFEST, first.manifest, platform={"architecture": "amd64", "os": "linux"}),
            descriptor(OCI_MANIFEST, second.manifest, platform={"architecture": "arm64", "os": "linux"}),
        ],
        "annotations": {"org.example.index": "yes"},
    }
    return encode(document), OCI_INDEX, None


async def artifact_manifest(registry: Registry, name: str) -> Built:
    subject = await push_image(registry, name, "subject")
    assert await push_blob(registry, name, EMPTY_CONFIG) == EMPTY_CONFIG_DIGEST
    payload = b'{"sbom": true}'
    await push_blob(registry, name, payload)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": 2},
        "layers": [descriptor("application/vnd.example.sbom.v1+json", payload)],
        "subject": descriptor(OCI_MANIFEST, subject.manifest),
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    return encode(document), OCI_MANIFEST, subject.digest


BUILDERS: dict[str, Builder] = {
    "docker-v2-schema-2": docker_manifest,
    "docker-manifest-list": docker_manifest_list,
    "oci-image-manifest": oci_manifest,
    "oci-index": oci_index,
    "artifact-manifest": artifact_manifest,
}


async def assert_manifest_served(
    registry: Registry, name: str, reference: str, body: bytes, media_type: str
) -> None:
    reply = await registry.get(f"/v2/{name}/manifests/{reference}")
    assert reply.status == 200, str(reply)
    assert reply.body == body
    assert reply.headers.get("Content-Type") == media_type
    assert reply.headers.get("Docker-Content-Digest") == digest_of(body)
    assert reply.headers.get("Content-Length") == str(len(body))
    head = await registry.head(f"/v2/{name}/manifests/{reference}")
    assert head.status == 200, str(head)
    assert head.body == b""
    assert head.headers.get("Content-Type") == media_type
    assert head.headers.get("Docker-Content-Digest") == digest_of(body)
    assert head.headers.get("Content-Length") == str(len(body))


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
async def test_push_by_tag_and_pull(registry: Registry, name: str, build: Builder) -> None:
    body, media_type, subject = await build(registry, name)
    reply = await push_manifest(registry, name, "v1.0", body, media_type)
    if subject is not None:
        assert reply.headers.get("OCI-Subject") == subject, str(reply)
    pulled = await registry.get(reply.location())
    assert pulled.status == 200, str(pulled)
    assert pulled.body == body
    await assert_manifest_served(registry, name, "v1.0", body, media_type)
    await assert_manifest_served(registry, name, digest_of(body), body, media_type)


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
async def test_push_by_digest_and_pull(registry: Registry, name: str, build: Builder) -> None:
    body, media_type, subject = await build(registry, name)
    reply = await push_manifest(registry, name, digest_of(body), body, media_type)
    if subject is not None:
        assert reply.headers.get("OCI-Subject") == subject, str(reply)
    pulled = await registry.get(reply.location())
    assert pulled.status == 200, str(pulled)
    assert pulled.body == body
    await assert_manifest_served(registry, name, digest_of(body), body, media_type)


async def test_subject_may_be_pushed_after_its_referrer(registry: Registry, name: str) -> None:
    """ "A registry MUST initially accept an otherwise valid manifest with a subject field that references a
    manifest that does not exist"."""
    missing = digest_of(random_blob(10))
    await push_blob(registry, name, EMPTY_CONFIG)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": 2},
        "layers": [{"mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": missing, "size": 1234},
    }
    body = encode(document)
    reply = await push_manifest(registry, name, digest_of(body), body, OCI_MANIFEST)
    assert reply.headers.get("OCI-Subject") == missing, str(reply)


async def test_manifest_without_media_type_field(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, None)
    document = json.loads(image.manifest)
    del document["mediaType"]
    body = encode(document)
    await push_manifest(registry, name, "no-media-type", body, OCI_MANIFEST)
    await assert_manifest_served(registry, name, "no-media-type", body, OCI_MANIFEST)


async def test_content_type_parameters_are_ignored(registry: Registry, name: str) -> None:
    """ "The registry SHOULD ignore parameters on the Content-Type header"; the stored type has none."""
    image = await push_image(registry, name, None)
    reply = await put_manifest(registry, name, "params", image.manifest, OCI_MANIFEST + "; charset=utf-8")
    assert reply.status == 201, str(reply)
    await assert_manifest_served(registry, name, "params", image.manifest, OCI_MANIFEST)


async def test_pull_needs_no_accept_header(registry: Registry, name: str) -> None:
    body, media_type, _ = await docker_manifest(registry, name)
    await push_manifest(registry, name, "latest", body, media_type)
    reply = await registry.get(f"/v2/{name}/manifests/latest", headers={"Accept": "*/*"})
    assert reply.status == 200, str(reply)
    assert reply.body == body
    assert reply.headers.get("Content-Type") == DOCKER_MANIFEST


async def test_retag_moves_the_tag_and_keeps_the_old_digest(registry: Registry, name: str) -> None:
    old = await push_image(registry, name, "latest")
    new = await push_image(registry, name, "latest")
    await assert_manifest_served(registry, name, "latest", new.manifest, OCI_MANIFEST)
    await assert_manifest_served(registry, name, old.digest, old.manifest, OCI_MANIFEST)


async def test_tag_of_128_characters(registry: Registry, name: str) -> None:
    tag = "A_b.c-" + "x" * 122
    assert len(tag) == 128
    image = await push_image(registry, name, tag)
    await assert_manifest_served(registry, name, tag, image.manifest, OCI_MANIFEST)


async def test_manifest_of_exactly_4_mib_is_accepted(registry: Registry, name: str) -> None:
    """ "Client and registry implementations SHOULD expect to be able to support manifest pushes of at least
    4 megabytes"."""
    body = await padded_manifest(registry, name, MAX_MANIFEST_BYTES)
    await push_manifest(registry, name, "big", body, OCI_MANIFEST)
    await assert_manifest_served(registry, name, "big", body, OCI_MANIFEST)


# --- validation on PUT -----------------------------------------------------------------------------------


async def padded_manifest(registry: Registry, name: str, size: int) -> bytes:
    """A valid OCI manifest of exactly ``size`` bytes (padded with an annotation)."""
    image = await push_image(registry, name, None)
    document: dict[str, Any] = json.loads(image.manifest)
    document["annotations"] = {"pad": ""}
    overhead = len(json.dumps(document).encode())
    document["annotations"]["pad"] = "x" * (size - overhead)
    body = json.dumps(document).encode()
    assert len(body) == size
    return body


async def test_manifest_over_4_mib_is_refused(registry: Registry, name: str) -> None:
    body = await padded_manifest(registry, name, MAX_MANIFEST_BYTES + 1)
    reply = await put_manifest(registry, name, "huge", body, OCI_MANIFEST)
    # The spec says SHOULD answer 413; a 400 is the other plausible answer.
    expect_error(reply, {413, 400}, "SIZE_INVALID", "MANIFEST_INVALID")
    expect_error(await registry.get(f"/v2/{name}/manifests/huge"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'"a string"',
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": 5, "layers": []}).encode(),
        json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": "x"}, "layers": []}
        ).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": "nope"}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"size": 3}]}).encode(),
    ],
    ids=[
        "bad-json",
        "empty",
        "array",
        "string",
        "no-config",
        "config-number",
        "config-bad-digest",
        "layers-string",
        "index-entry-without-digest",
    ],
)
async def test_invalid_manifest(registry: Registry, name: str, body: bytes) -> None:
    media_type = OCI_INDEX if b"image.index" in body else OCI_MANIFEST
    reply = await put_manifest(registry, name, "bad", body, media_type)
    expect_error(reply, 400, "MANIFEST_INVALID")
    assert (await registry.head(f"/v2/{name}/manifests/bad")).status == 404


async def test_media_type_field_must_match_content_type(registry: Registry, name: str) -> None:
    body, _, _ = await docker_manifest(registry, name)
    reply = await put_manifest(registry, name, "mismatch", body, OCI_MANIFEST)
    expect_error(reply, 400, "MANIFEST_INVALID")
    image = await push_image(registry, name, None)
    reply = await put_manifest(registry, name, "mismatch", image.manifest, OCI_INDEX)
    expect_error(reply, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("missing", ["layer", "config"])
async def test_manifest_referencing_unknown_blob(registry: Registry, name: str, missing: str) -> None:
    present, absent = random_blob(30), random_blob(30)
    await push_blob(registry, name, present)
    config, layer = (present, absent) if missing == "layer" else (absent, present)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
    }
    reply = await put_manifest(registry, name, "latest", encode(document), OCI_MANIFEST)
    # v1.1: a rejected reference "MUST result in one or more MANIFEST_BLOB_UNKNOWN errors".
    expect_error(reply, 400, "MANIFEST_BLOB_UNKNOWN")


async def test_manifest_referencing_blob_of_another_image(registry: Registry, name: str) -> None:
    """Blobs are linked per image: a blob known only to another image is unknown to this one."""
    image = await push_image(registry, random_image(), None)
    reply = await put_manifest(registry, name, "latest", image.manifest, OCI_MANIFEST)
    expect_error(reply, 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
async def test_index_referencing_unknown_manifest(registry: Registry, name: str, media_type: str) -> None:
    build = docker_manifest if media_type == DOCKER_MANIFEST_LIST else oci_manifest
    present, child_type, _ = await build(registry, name)
    await push_manifest(registry, name, digest_of(present), present, child_type)
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            descriptor(child_type, present, platform={"architecture": "amd64", "os": "linux"}),
            descriptor(child_type, random_blob(99), platform={"architecture": "arm64", "os": "linux"}),
        ],
    }
    reply = await put_manifest(registry, name, "multi", encode(document), media_type)
    expect_error(reply, 400, "MANIFEST_BLOB_UNKNOWN")


async def test_put_by_digest_that_does_not_match_body(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, None)
    wrong = digest_of(image.manifest + b" ")
    reply = await put_manifest(registry, name, wrong, image.manifest, OCI_MANIFEST)
    expect_error(reply, 400, "DIGEST_INVALID")
    expect_error(await registry.get(f"/v2/{name}/manifests/{wrong}"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("tag", ["a" * 129, ".hidden", "-dash", "tag!", "t@g"])
async def test_invalid_tag(registry: Registry, name: str, tag: str) -> None:
    image = await push_image(registry, name, None)
    reply = await put_manifest(registry, name, tag, image.manifest, OCI_MANIFEST)
    # The spec's table has no tag code; Docker's TAG_INVALID and the spec's MANIFEST_INVALID both fit.
    expect_error(reply, 400, "TAG_INVALID", "MANIFEST_INVALID")


async def test_unknown_manifest(registry: Registry, name: str) -> None:
    await push_image(registry, name, "latest")
    for reference in ("nosuchtag", digest_of(random_blob(5))):
        expect_error(await registry.get(f"/v2/{name}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
        head = await registry.head(f"/v2/{name}/manifests/{reference}")
        assert head.status == 404, str(head)
        assert head.body == b""


@pytest.mark.parametrize("tag", [".INVALID_MANIFEST_NAME", "a" * 129, "-dash", "tag!"])
async def test_manifest_by_invalid_tag_is_unknown(registry: Registry, name: str, tag: str) -> None:
    # No manifest can ever be tagged so, so a pull by it finds nothing: 404 MANIFEST_UNKNOWN, as the spec
    # says of a manifest that is not found and as its conformance suite checks (a PUT by it stays a 400).
    await push_image(registry, name, "latest")
    expect_error(await registry.get(f"/v2/{name}/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
    head = await registry.head(f"/v2/{name}/manifests/{tag}")
    assert head.status == 404, str(head)
    assert head.body == b""


async def test_manifest_is_per_image(registry: Registry) -> None:
    owner, neighbour, elsewhere = random_image(), random_image(), random_image("other")
    image = await push_image(registry, owner, "shared")
    await push_image(registry, neighbour, "latest")
    await push_image(registry, elsewhere, "latest")
    for name in (neighbour, elsewhere):
        for reference in ("shared", image.digest):
            expect_error(await registry.get(f"/v2/{name}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
            assert (await registry.head(f"/v2/{name}/manifests/{reference}")).status == 404


@pytest.mark.parametrize(
    "reference", ["sha256:xyz", "sha256:" + "a" * 63, "md5:d41d8cd98f00b204e9800998ecf8427e"]
)
async def test_malformed_digest_reference(registry: Registry, name: str, reference: str) -> None:
    await push_image(registry, name)
    reply = await registry.get(f"/v2/{name}/manifests/{reference}")
    # A reference "MUST NOT be in any other format" than a tag or a digest; the registry may call the
    # digest invalid (400) or simply not find it (404).
    expect_error(reply, {400, 404}, "DIGEST_INVALID", "MANIFEST_INVALID", "MANIFEST_UNKNOWN")
