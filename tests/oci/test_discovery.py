"""Content discovery (distribution-spec v1.1, "Listing Tags", "Listing Referrers"; and the historical
``/v2/_catalog``): lexical order, ``n``/``last`` pagination with ``Link: <…>; rel="next"`` (end-8a,
end-8b), and the referrers index with its ``artifactType`` filter (end-12a, end-12b)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from yarl import URL

from .helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    Registry,
    Reply,
    descriptor,
    digest_of,
    encode,
    expect_error,
    push_artifact,
    push_blob,
    push_image,
    push_manifest,
    random_image,
)

TAGS = ["1.0", "alpha", "latest", "v1.10", "v1.2", "v2"]


@pytest.fixture
async def tagged(registry: Registry, name: str) -> str:
    """``name`` with every tag of TAGS, pushed in a scrambled order."""
    image = await push_image(registry, name, None)
    for tag in ["v1.2", "latest", "1.0", "v2", "alpha", "v1.10"]:
        await push_manifest(registry, name, tag, image.manifest, OCI_MANIFEST)
    return name


async def collect(registry: Registry, start: str | URL, key: str) -> tuple[list[str], list[Reply]]:
    """Follow ``Link: rel="next"`` from ``start``; return every listed item and every page."""
    items: list[str] = []
    pages: list[Reply] = []
    target: str | URL | None = start
    while target is not None:
        reply = await registry.get(target)
        assert reply.status == 200, str(reply)
        pages.append(reply)
        items.extend(reply.json()[key])
        target = reply.next_link()
        assert len(pages) < 50, "pagination does not end"
    return items, pages


# --- tags ------------------------------------------------------------------------------------------------


async def test_tags_list_in_lexical_order(registry: Registry, tagged: str) -> None:
    reply = await registry.get(f"/v2/{tagged}/tags/list")
    assert reply.status == 200, str(reply)
    assert reply.json() == {"name": tagged, "tags": TAGS}
    assert "Link" not in reply.headers


async def test_tags_list_mixed_case(registry: Registry, name: str) -> None:
    image = await push_image(registry, name, "b")
    await push_manifest(registry, name, "B", image.manifest, OCI_MANIFEST)
    await push_manifest(registry, name, "a", image.manifest, OCI_MANIFEST)
    tags = (await registry.get(f"/v2/{name}/tags/list")).json()["tags"]
    # The spec says "lexical order (i.e. case-insensitive alphanumeric order)", while registries such as
    # Distribution sort by bytes; both orders are accepted.
    assert tags in (["B", "a", "b"], ["a", "B", "b"], ["a", "b", "B"]), tags


async def test_tags_list_first_page_with_link(registry: Registry, tagged: str) -> None:
    reply = await registry.get(f"/v2/{tagged}/tags/list?n=2")
    assert reply.status == 200, str(reply)
    assert reply.json() == {"name": tagged, "tags": TAGS[:2]}
    assert 'rel="next"' in reply.headers.get("Link", ""), str(reply)


async def test_tags_list_walk_by_link(registry: Registry, tagged: str) -> None:
    tags, pages = await collect(registry, f"/v2/{tagged}/tags/list?n=4", "tags")
    assert tags == TAGS
    assert [len(page.json()["tags"]) for page in pages] == [4, 2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("n=2&last=alpha", ["latest", "v1.10"]),
        ("last=latest", ["v1.10", "v1.2", "v2"]),
        ("n=10&last=1.0", TAGS[1:]),
        ("n=3&last=v2", []),
        ("n=2&last=b", ["latest", "v1.10"]),
        ("n=100", TAGS),
    ],
)
async def test_tags_list_n_and_last(registry: Registry, tagged: str, query: str, expected: list[str]) -> None:
    reply = await registry.get(f"/v2/{tagged}/tags/list?{query}")
    assert reply.status == 200, str(reply)
    assert reply.json()["tags"] == expected
    # A page that reaches the end of the list has no next page.
    if not expected or expected[-1] == TAGS[-1]:
        assert "Link" not in reply.headers, str(reply)


async def test_tags_list_n_zero(registry: Registry, tagged: str) -> None:
    reply = await registry.get(f"/v2/{tagged}/tags/list?n=0")
    assert reply.status == 200, str(reply)
    assert reply.json()["tags"] == []
    assert "Link" not in reply.headers


@pytest.mark.parametrize("n", ["abc", "-1", "1.5"])
async def test_tags_list_invalid_n(registry: Registry, tagged: str, n: str) -> None:
    reply = await registry.get(f"/v2/{tagged}/tags/list?n={n}")
    # The spec does not say what a malformed n gets: ignoring it (200) and refusing it (400) are both fine,
    # but a refusal is an error envelope whose code comes from the spec's table (checked by Registry).
    assert reply.status in {200, 400}, str(reply)
    reply = await registry.get(f"/v2/_catalog?n={n}")
    assert reply.status in {200, 400}, str(reply)


async def test_tags_list_of_image_without_tags(registry: Registry, name: str) -> None:
    await push_image(registry, name, None)
    reply = await registry.get(f"/v2/{name}/tags/list")
    assert reply.status == 200, str(reply)
    assert reply.json() == {"name": name, "tags": []}


async def test_tags_list_of_unknown_image(registry: Registry) -> None:
    await push_image(registry, random_image(), "latest")
    expect_error(await registry.get(f"/v2/{random_image()}/tags/list"), 404, "NAME_UNKNOWN")


async def test_tags_are_per_image(registry: Registry, tagged: str) -> None:
    other = random_image()
    await push_image(registry, other, "only")
    assert (await registry.get(f"/v2/{other}/tags/list")).json()["tags"] == ["only"]


# --- catalog ---------------------------------------------------------------------------------------------


async def test_catalog_lists_images_with_their_repository(registry: Registry) -> None:
    names = sorted([random_image(), random_image(), random_image("other")])
    for image_name in names:
        await push_image(registry, image_name)
    reply = await registry.get("/v2/_catalog")
    assert reply.status == 200, str(reply)
    assert reply.json()["repositories"] == names


async def test_catalog_pagination(registry: Registry) -> None:
    names = sorted(random_image(repo) for repo in ("test", "test", "test", "other", "other"))
    for image_name in names:
        await push_image(registry, image_name)
    first = await registry.get("/v2/_catalog?n=2")
    assert first.status == 200, str(first)
    assert first.json()["repositories"] == names[:2]
    assert 'rel="next"' in first.headers.get("Link", ""), str(first)
    listed, pages = await collect(registry, "/v2/_catalog?n=2", "repositories")
    assert listed == names
    assert len(pages) == 3
    after = await registry.get(f"/v2/_catalog?n=2&last={names[2]}")
    assert after.json()["repositories"] == names[3:]


# --- referrers -------------------------------------------------------------------------------------------

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE_CONFIG = "application/vnd.example.signature.config.v1+json"


async def referrers(registry: Registry, name: str, digest: str, query: str = "") -> Reply:
    reply = await registry.get(f"/v2/{name}/referrers/{digest}{query}")
    assert reply.status == 200, str(reply)
    assert reply.headers.get("Content-Type") == OCI_INDEX, str(reply)
    index = reply.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    assert isinstance(index["manifests"], list)
    return reply


def by_digest(reply: Reply) -> dict[str, dict[str, Any]]:
    return {entry["digest"]: entry for entry in reply.json()["manifests"]}


async def push_signature(registry: Registry, name: str, subject: PushedImage) -> bytes:
    """A referrer without artifactType: its descriptor must take the config's mediaType."""
    config = b'{"signature": "abc"}'
    await push_blob(registry, name, config)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(SIGNATURE_CONFIG, config),
        "layers": [],
        "subject": descriptor(OCI_MANIFEST, subject.manifest),
        "annotations": {"org.example.signer": "ci"},
    }
    body = encode(document)
    reply = await push_manifest(registry, name, digest_of(body), body, OCI_MANIFEST)
    assert reply.headers.get("OCI-Subject") == subject.digest, str(reply)
    return body


async def push_referring_index(registry: Registry, name: str, subject: PushedImage) -> bytes:
    """A referrer that is an index without artifactType: its descriptor has no artifactType."""
    child = await push_image(registry, name, None)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, child.manifest)],
        "subject": descriptor(OCI_MANIFEST, subject.manifest),
        "annotations": {"org.example.kind": "bundle"},
    }
    body = encode(document)
    reply = await push_manifest(registry, name, digest_of(body), body, OCI_INDEX)
    assert reply.headers.get("OCI-Subject") == subject.digest, str(reply)
    return body


async def test_referrers_lists_every_referrer(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    sbom, _ = await push_artifact(registry, name, subject, annotations={"org.example.format": "spdx"})
    signature = await push_signature(registry, name, subject)
    bundle = await push_referring_index(registry, name, subject)
    listed = by_digest(await referrers(registry, name, subject.digest))
    assert set(listed) == {digest_of(sbom), digest_of(signature), digest_of(bundle)}

    entry = listed[digest_of(sbom)]
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["size"] == len(sbom)
    assert entry["artifactType"] == SBOM
    assert entry["annotations"] == {"org.example.format": "spdx"}

    entry = listed[digest_of(signature)]
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["size"] == len(signature)
    assert entry["artifactType"] == SIGNATURE_CONFIG
    assert entry["annotations"] == {"org.example.signer": "ci"}

    entry = listed[digest_of(bundle)]
    assert entry["mediaType"] == OCI_INDEX
    assert entry["size"] == len(bundle)
    assert "artifactType" not in entry
    assert entry["annotations"] == {"org.example.kind": "bundle"}


async def test_referrers_filter_by_artifact_type(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    sbom, _ = await push_artifact(registry, name, subject)
    await push_signature(registry, name, subject)
    reply = await referrers(registry, name, subject.digest, f"?artifactType={SBOM}")
    assert reply.headers.get("OCI-Filters-Applied") == "artifactType", str(reply)
    assert list(by_digest(reply)) == [digest_of(sbom)]
    reply = await referrers(registry, name, subject.digest, "?artifactType=application/vnd.example.none")
    assert reply.headers.get("OCI-Filters-Applied") == "artifactType", str(reply)
    assert reply.json()["manifests"] == []


async def test_referrers_unfiltered_has_no_filter_header(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    await push_artifact(registry, name, subject)
    reply = await referrers(registry, name, subject.digest)
    assert "OCI-Filters-Applied" not in reply.headers


async def test_referrers_empty_index_when_none(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    reply = await referrers(registry, name, subject.digest)
    assert reply.json()["manifests"] == []
    # "the registry MUST NOT return a 404 Not Found to a referrers API request": not even for a subject
    # that was never pushed.
    reply = await referrers(registry, name, digest_of(b"never pushed"))
    assert reply.json()["manifests"] == []


async def test_referrer_pushed_before_its_subject_is_listed(registry: Registry, name: str) -> None:
    future = await push_image(registry, random_image(), None)  # bytes of a subject not yet in ``name``
    body, _ = await push_artifact(registry, name, future)
    assert list(by_digest(await referrers(registry, name, future.digest))) == [digest_of(body)]


async def test_referrers_are_per_image(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    other = random_image()
    await push_artifact(registry, other, subject)
    reply = await referrers(registry, name, subject.digest)
    assert reply.json()["manifests"] == []


@pytest.mark.parametrize(
    "digest", ["sha256:xyz", "sha256:" + "a" * 63, "latest", "md5:d41d8cd98f00b204e9800998ecf8427e"]
)
async def test_referrers_of_malformed_digest(registry: Registry, name: str, digest: str) -> None:
    await push_image(registry, name, "latest")
    reply = await registry.get(f"/v2/{name}/referrers/{digest}")
    assert reply.status == 400, str(reply)


async def test_referrer_descriptor_size_matches_pulled_bytes(registry: Registry, name: str) -> None:
    subject = await push_image(registry, name, "latest")
    await push_artifact(registry, name, subject)
    for digest, entry in by_digest(await referrers(registry, name, subject.digest)).items():
        pulled = await registry.get(f"/v2/{name}/manifests/{digest}")
        assert pulled.status == 200, str(pulled)
        assert len(pulled.body) == entry["size"]
        assert json.loads(pulled.body)["subject"]["digest"] == subject.digest
        assert pulled.headers.get("Content-Type") == entry["mediaType"]
