"""The base endpoint and the name grammar: ``GET /v2/`` (end-1), and how every endpoint answers a
``<name>`` that is not a valid or known repository name (distribution-spec v1.1, "Pulling manifests":
``<name>`` MUST match ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*``)."""

from __future__ import annotations

import pytest

from .helpers import OCI_MANIFEST, Registry, digest_of, encode, expect_error, push_image, random_blob

NAME_CODES = ("NAME_INVALID", "NAME_UNKNOWN")

BAD_NAMES = {
    "uppercase": "test/MyImage",
    "dot-dot": "test/a/../../other/b",
    "encoded-dot-dot": "test/a/%2e%2e/b",
    "encoded-dot-dot-upper": "test/%2E%2E/other/b",
    "trailing-slash": "test/img/",
    "empty-component": "test//img",
    "300-characters": "test/" + "a" * 295,
    "256-characters": "test/" + "/".join(["a" * 49] * 5) + "bb",
    "unknown-repository": "nosuchrepo/img",
    "repository-only": "test",
    "leading-separator": "test/-img",
    "double-dot-separator": "test/a..b",
}


async def test_base_endpoint_answers_200_with_api_version(registry: Registry) -> None:
    reply = await registry.get("/v2/")
    assert reply.status == 200, str(reply)
    assert reply.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


async def test_base_endpoint_head(registry: Registry) -> None:
    reply = await registry.head("/v2/")
    assert reply.status == 200, str(reply)
    assert reply.body == b""


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_name_on_tags_list(registry: Registry, bad: str) -> None:
    reply = await registry.get(f"/v2/{bad}/tags/list")
    expect_error(reply, {400, 404}, *NAME_CODES)


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_name_on_manifest_get_and_head(registry: Registry, bad: str) -> None:
    reply = await registry.get(f"/v2/{bad}/manifests/latest")
    expect_error(reply, {400, 404}, *NAME_CODES)
    reply = await registry.head(f"/v2/{bad}/manifests/latest")
    assert 400 <= reply.status < 500, str(reply)


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_name_on_manifest_put(registry: Registry, bad: str) -> None:
    body = encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []})
    reply = await registry.put(f"/v2/{bad}/manifests/latest", body, headers={"Content-Type": OCI_MANIFEST})
    expect_error(reply, {400, 404}, *NAME_CODES)


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_name_on_blob_get(registry: Registry, bad: str) -> None:
    reply = await registry.get(f"/v2/{bad}/blobs/{digest_of(b'x')}")
    expect_error(reply, {400, 404}, *NAME_CODES)


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_name_on_upload_start(registry: Registry, bad: str) -> None:
    reply = await registry.post(f"/v2/{bad}/blobs/uploads/", b"")
    expect_error(reply, {400, 404}, *NAME_CODES)
    data = random_blob(16)
    reply = await registry.post(f"/v2/{bad}/blobs/uploads/?digest={digest_of(data)}", data)
    expect_error(reply, {400, 404}, *NAME_CODES)


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_bad_name_on_referrers(registry: Registry, bad: str) -> None:
    reply = await registry.get(f"/v2/{bad}/referrers/{digest_of(b'x')}")
    expect_error(reply, {400, 404}, *NAME_CODES)


async def test_dot_dot_cannot_reach_another_image(registry: Registry) -> None:
    """A ``..`` in the name must not be resolved into a path that reaches content of another image."""
    target = await push_image(registry, "other/b", "latest")
    for path in (
        "/v2/test/a/../../other/b/manifests/latest",
        "/v2/test/a/%2e%2e/%2e%2e/other/b/manifests/latest",
        f"/v2/test/a/../../other/b/blobs/{digest_of(target.layer)}",
    ):
        reply = await registry.get(path)
        expect_error(reply, {400, 404}, *NAME_CODES)


async def test_max_length_name_is_accepted(registry: Registry) -> None:
    """A name of 255 characters is within the limit every client assumes; it must work end to end."""
    long_name = "test/" + "/".join(["a" * 49] * 5)
    assert len(long_name) == 254
    image = await push_image(registry, long_name, "v1")
    reply = await registry.get(f"/v2/{long_name}/manifests/v1")
    assert reply.status == 200, str(reply)
    assert reply.body == image.manifest


async def test_separators_allowed_by_the_grammar(registry: Registry) -> None:
    """``.``, ``_``, ``__`` and ``-+`` separators inside a component are valid name characters."""
    name = "test/my.team_x__y--z/img-1"
    image = await push_image(registry, name, "latest")
    reply = await registry.get(f"/v2/{name}/manifests/{image.digest}")
    assert reply.status == 200, str(reply)


async def test_unknown_endpoint_and_method_answer_in_the_envelope(registry: Registry, name: str) -> None:
    """Even requests outside the API's endpoint table get a JSON error envelope (checked by Registry)."""
    image = await push_image(registry, name)
    reply = await registry.get(f"/v2/{name}/nonsense")
    assert reply.status == 404, str(reply)
    for method, path in (
        ("PATCH", f"/v2/{name}/manifests/latest"),
        ("PUT", f"/v2/{name}/blobs/{image.digest}"),
        ("DELETE", f"/v2/{name}/referrers/{image.digest}"),
    ):
        reply = await registry.request(method, path)
        expect_error(reply, {404, 405}, "UNSUPPORTED", "NAME_UNKNOWN")
