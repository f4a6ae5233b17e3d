"""Pull workflow, blobs (distribution-spec v1.1, "Pulling blobs" and "Checking if content exists"): GET and
HEAD (end-2), byte ranges, malformed and unknown digests, and the rule that a blob is reachable only through
the images it was pushed to or mounted into."""

from __future__ import annotations

import pytest

from .helpers import Registry, digest_of, expect_error, push_blob, push_image, random_blob, random_image

SIZE = 100


@pytest.fixture
async def blob(registry: Registry, name: str) -> tuple[str, bytes]:
    """A blob of SIZE bytes pushed to ``name``; returns (blob URL path, bytes)."""
    data = random_blob(SIZE)
    digest = await push_blob(registry, name, data)
    return f"/v2/{name}/blobs/{digest}", data


async def test_get_blob(registry: Registry, blob: tuple[str, bytes]) -> None:
    path, data = blob
    reply = await registry.get(path)
    assert reply.status == 200, str(reply)
    assert reply.body == data
    assert reply.headers.get("Content-Length") == str(SIZE)
    assert reply.headers.get("Docker-Content-Digest") == digest_of(data)
    assert reply.headers.get("Content-Type") == "application/octet-stream"


async def test_head_blob(registry: Registry, blob: tuple[str, bytes]) -> None:
    path, data = blob
    reply = await registry.head(path)
    assert reply.status == 200, str(reply)
    assert reply.body == b""
    assert reply.headers.get("Content-Length") == str(SIZE)
    assert reply.headers.get("Docker-Content-Digest") == digest_of(data)
    assert reply.headers.get("Content-Type") == "application/octet-stream"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, SIZE - 1),
        ("bytes=-5", SIZE - 5, SIZE - 1),
        ("bytes=90-200", 90, SIZE - 1),
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),
    ],
)
async def test_range_get(
    registry: Registry, blob: tuple[str, bytes], header: str, start: int, end: int
) -> None:
    path, data = blob
    reply = await registry.get(path, headers={"Range": header})
    assert reply.status == 206, str(reply)
    assert reply.headers.get("Content-Range") == f"bytes {start}-{end}/{SIZE}"
    assert reply.body == data[start : end + 1]
    assert reply.headers.get("Content-Length") == str(end - start + 1)


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 50}-{SIZE + 60}"])
async def test_unsatisfiable_range(registry: Registry, blob: tuple[str, bytes], header: str) -> None:
    path, _ = blob
    reply = await registry.get(path, headers={"Range": header})
    assert reply.status == 416, str(reply)
    # RFC 9110 section 15.5.17: a 416 to a byte-range request SHOULD carry "Content-Range: bytes */<size>".
    assert reply.headers.get("Content-Range") == f"bytes */{SIZE}", str(reply)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:xyz",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "G" * 64,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256",
        "sha256:",
    ],
)
async def test_malformed_digest_in_url(registry: Registry, name: str, digest: str) -> None:
    await push_image(registry, name)
    expect_error(await registry.get(f"/v2/{name}/blobs/{digest}"), 400, "DIGEST_INVALID")
    assert (await registry.head(f"/v2/{name}/blobs/{digest}")).status == 400


async def test_unknown_blob(registry: Registry, name: str) -> None:
    await push_image(registry, name)
    unknown = digest_of(random_blob(8))
    expect_error(await registry.get(f"/v2/{name}/blobs/{unknown}"), 404, "BLOB_UNKNOWN")
    head = await registry.head(f"/v2/{name}/blobs/{unknown}")
    assert head.status == 404, str(head)
    assert head.body == b""


async def test_blob_is_linked_per_image(registry: Registry) -> None:
    owner, neighbour, elsewhere = random_image(), random_image(), random_image("other")
    image = await push_image(registry, owner)
    await push_image(registry, neighbour)
    await push_image(registry, elsewhere)
    for digest in (digest_of(image.layer), digest_of(image.config)):
        assert (await registry.get(f"/v2/{owner}/blobs/{digest}")).status == 200
        for name in (neighbour, elsewhere):
            expect_error(await registry.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
            assert (await registry.head(f"/v2/{name}/blobs/{digest}")).status == 404


async def test_blob_pushed_to_parent_name_is_not_in_child(registry: Registry, name: str) -> None:
    """``test/a`` and ``test/a/b`` are two different images: a prefix gives no access."""
    data = random_blob(20)
    digest = await push_blob(registry, name, data)
    child = f"{name}/child"
    await push_image(registry, child)
    expect_error(await registry.get(f"/v2/{child}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


async def test_same_blob_in_two_images(registry: Registry) -> None:
    first, second = random_image(), random_image()
    data = random_blob(200)
    assert await push_blob(registry, first, data) == await push_blob(registry, second, data)
    for name in (first, second):
        reply = await registry.get(f"/v2/{name}/blobs/{digest_of(data)}")
        assert reply.status == 200, str(reply)
        assert reply.body == data
