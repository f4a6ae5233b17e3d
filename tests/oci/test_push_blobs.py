"""Push workflow, blobs (distribution-spec v1.1, "Pushing blobs"): POST then PUT, single POST, chunked
PATCH uploads, upload status, cancelling, digest checks, and cross-repository mounts (end-4a, end-4b,
end-5, end-6, end-11, end-13)."""

from __future__ import annotations

import re
import uuid

import pytest

from .helpers import (
    Registry,
    Reply,
    digest_of,
    expect_error,
    push_blob,
    push_image,
    random_blob,
    random_image,
    start_upload,
)

OCTET = {"Content-Type": "application/octet-stream"}


def chunk_headers(start: int, data: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + len(data) - 1}",
        "Content-Length": str(len(data)),
    }


async def assert_pullable(registry: Registry, location: Reply, data: bytes) -> None:
    """``location`` answered 201 with a Location that is a pullable blob URL holding ``data``."""
    assert location.status == 201, str(location)
    assert location.headers.get("Docker-Content-Digest") == digest_of(data), str(location)
    reply = await registry.get(location.location())
    assert reply.status == 200, str(reply)
    assert reply.body == data


async def test_post_starts_an_upload_session(registry: Registry, name: str) -> None:
    session = await start_upload(registry, name)
    assert session.headers.get("Docker-Upload-UUID"), str(session)
    status = await registry.get(session.location())
    assert status.status == 204, str(status)
    assert status.headers.get("Location"), str(status)
    assert "Range" in status.headers, str(status)


async def test_two_sessions_have_different_locations(registry: Registry, name: str) -> None:
    first = await start_upload(registry, name)
    second = await start_upload(registry, name)
    assert first.location() != second.location()
    assert first.headers.get("Docker-Upload-UUID") != second.headers.get("Docker-Upload-UUID")


async def test_post_then_put_monolithic(registry: Registry, name: str) -> None:
    data = random_blob(4096)
    session = await start_upload(registry, name)
    reply = await registry.put(session.location().update_query(digest=digest_of(data)), data, headers=OCTET)
    await assert_pullable(registry, reply, data)


async def test_upload_session_ends_with_the_put(registry: Registry, name: str) -> None:
    data = random_blob(100)
    session = await start_upload(registry, name)
    reply = await registry.put(session.location().update_query(digest=digest_of(data)), data, headers=OCTET)
    assert reply.status == 201, str(reply)
    expect_error(await registry.get(session.location()), 404, "BLOB_UPLOAD_UNKNOWN")


async def test_empty_blob(registry: Registry, name: str) -> None:
    digest = await push_blob(registry, name, b"")
    assert digest == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    reply = await registry.get(f"/v2/{name}/blobs/{digest}")
    assert reply.status == 200, str(reply)
    assert reply.body == b""
    assert reply.headers.get("Content-Length") == "0"


async def test_blob_larger_than_aiohttp_default_body_limit(registry: Registry, name: str) -> None:
    data = random_blob(3 * 1024 * 1024 + 17)
    digest = await push_blob(registry, name, data)
    reply = await registry.get(f"/v2/{name}/blobs/{digest}")
    assert reply.status == 200
    assert reply.body == data


async def test_single_post(registry: Registry, name: str) -> None:
    data = random_blob(2048)
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?digest={digest_of(data)}", data, headers=OCTET)
    # The spec lets a registry decline the single-POST upload: 202 with a session, then POST-then-PUT.
    if reply.status == 202:
        reply = await registry.put(reply.location().update_query(digest=digest_of(data)), data, headers=OCTET)
    await assert_pullable(registry, reply, data)


async def test_single_post_with_wrong_digest(registry: Registry, name: str) -> None:
    data = random_blob(64)
    wrong = digest_of(b"something else")
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?digest={wrong}", data, headers=OCTET)
    if reply.status == 202:  # a registry that declines single POST; the following PUT must fail instead
        reply = await registry.put(reply.location().update_query(digest=wrong), data, headers=OCTET)
    expect_error(reply, 400, "DIGEST_INVALID")
    for digest in (wrong, digest_of(data)):
        assert (await registry.head(f"/v2/{name}/blobs/{digest}")).status == 404


async def test_chunked_upload_closed_by_empty_put(registry: Registry, name: str) -> None:
    data = random_blob(3000)
    chunks = [data[:1000], data[1000:2500], data[2500:]]
    location = (await start_upload(registry, name)).location()
    offset = 0
    for chunk in chunks:
        reply = await registry.patch(location, chunk, headers=chunk_headers(offset, chunk))
        offset += len(chunk)
        assert reply.status == 202, str(reply)
        assert reply.headers.get("Range") == f"0-{offset - 1}", str(reply)
        location = reply.location()
        status = await registry.get(location)
        assert status.status == 204, str(status)
        assert status.headers.get("Range") == f"0-{offset - 1}", str(status)
        location = status.location()
    reply = await registry.put(location.update_query(digest=digest_of(data)), b"")
    await assert_pullable(registry, reply, data)


async def test_chunked_upload_with_last_chunk_in_put(registry: Registry, name: str) -> None:
    data = random_blob(2000)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data[:1200], headers=chunk_headers(0, data[:1200]))
    assert reply.status == 202, str(reply)
    assert reply.headers.get("Range") == "0-1199", str(reply)
    last = data[1200:]
    reply = await registry.put(
        reply.location().update_query(digest=digest_of(data)), last, headers=chunk_headers(1200, last)
    )
    await assert_pullable(registry, reply, data)


async def test_streamed_patch_without_content_range(registry: Registry, name: str) -> None:
    """Docker's client streams a PATCH with no Content-Range (the spec's historical "stream upload"); the
    chunk is appended where the upload stands."""
    data = random_blob(1500)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data[:1000], headers=OCTET)
    assert reply.status == 202, str(reply)
    assert reply.headers.get("Range") == "0-999", str(reply)
    reply = await registry.patch(reply.location(), data[1000:], headers=OCTET)
    assert reply.status == 202, str(reply)
    assert reply.headers.get("Range") == "0-1499", str(reply)
    reply = await registry.put(reply.location().update_query(digest=digest_of(data)), b"")
    await assert_pullable(registry, reply, data)


async def test_out_of_order_chunk_is_416_with_current_range(registry: Registry, name: str) -> None:
    data = random_blob(30)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data[:10], headers=chunk_headers(0, data[:10]))
    assert reply.status == 202, str(reply)
    location = reply.location()

    gap = await registry.patch(location, data[20:], headers=chunk_headers(20, data[20:]))
    assert gap.status == 416, str(gap)
    assert gap.headers.get("Range") == "0-9", str(gap)
    overlap = await registry.patch(location, data[:10], headers=chunk_headers(0, data[:10]))
    assert overlap.status == 416, str(overlap)
    assert overlap.headers.get("Range") == "0-9", str(overlap)

    status = await registry.get(location)
    assert status.status == 204, str(status)
    assert status.headers.get("Range") == "0-9", str(status)
    # The session survives a 416: the client resumes from the last valid range.
    reply = await registry.patch(status.location(), data[10:], headers=chunk_headers(10, data[10:]))
    assert reply.status == 202, str(reply)
    assert reply.headers.get("Range") == "0-29", str(reply)
    reply = await registry.put(reply.location().update_query(digest=digest_of(data)), b"")
    await assert_pullable(registry, reply, data)


async def test_first_chunk_must_start_at_zero(registry: Registry, name: str) -> None:
    data = random_blob(10)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data, headers=chunk_headers(5, data))
    assert reply.status == 416, str(reply)


async def test_content_range_not_matching_body_length(registry: Registry, name: str) -> None:
    data = random_blob(10)
    location = (await start_upload(registry, name)).location()
    headers = chunk_headers(0, data) | {"Content-Range": "0-19"}
    reply = await registry.patch(location, data, headers=headers)
    # The spec names 416 for a Content-Range it cannot accept; 400 (BLOB_UPLOAD_INVALID / SIZE_INVALID) is
    # the generic bad-request answer. Both are accepted; what matters is that nothing is committed.
    assert reply.status in {400, 416}, str(reply)
    status = await registry.get(location)
    # After a 4xx other than 416 the spec lets the session be dropped; if it lives on, it holds no byte of
    # the rejected chunk, so the same chunk sent correctly starts at 0.
    assert status.status in {204, 404}, str(status)
    if status.status == 204:
        retry = await registry.patch(status.location(), data, headers=chunk_headers(0, data))
        assert retry.status == 202, str(retry)
        assert retry.headers.get("Range") == "0-9", str(retry)


async def test_cancel_upload(registry: Registry, name: str) -> None:
    data = random_blob(100)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data, headers=chunk_headers(0, data))
    location = reply.location()
    reply = await registry.delete(location)
    assert reply.status == 204, str(reply)
    expect_error(await registry.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    expect_error(
        await registry.patch(location, data, headers=chunk_headers(0, data)), 404, "BLOB_UPLOAD_UNKNOWN"
    )
    reply = await registry.put(location.update_query(digest=digest_of(data)), b"")
    expect_error(reply, 404, "BLOB_UPLOAD_UNKNOWN")
    expect_error(await registry.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert (await registry.head(f"/v2/{name}/blobs/{digest_of(data)}")).status == 404


async def test_put_with_wrong_digest(registry: Registry, name: str) -> None:
    data = random_blob(256)
    wrong = digest_of(b"not the data")
    location = (await start_upload(registry, name)).location()
    reply = await registry.put(location.update_query(digest=wrong), data, headers=OCTET)
    expect_error(reply, 400, "DIGEST_INVALID")
    for digest in (wrong, digest_of(data)):
        expect_error(await registry.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


async def test_chunked_put_with_wrong_digest(registry: Registry, name: str) -> None:
    data = random_blob(256)
    location = (await start_upload(registry, name)).location()
    reply = await registry.patch(location, data, headers=chunk_headers(0, data))
    assert reply.status == 202, str(reply)
    reply = await registry.put(reply.location().update_query(digest=digest_of(data[:-1])), b"")
    expect_error(reply, 400, "DIGEST_INVALID")
    expect_error(await registry.get(f"/v2/{name}/blobs/{digest_of(data)}"), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:xyz",
        "sha256:" + "a" * 63,
        "notadigest",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:" + "A" * 64,
    ],
)
async def test_put_with_malformed_digest(registry: Registry, name: str, digest: str) -> None:
    location = (await start_upload(registry, name)).location()
    reply = await registry.put(location.update_query(digest=digest), b"data", headers=OCTET)
    expect_error(reply, 400, "DIGEST_INVALID")


async def test_put_without_digest_does_not_complete(registry: Registry, name: str) -> None:
    data = random_blob(32)
    location = (await start_upload(registry, name)).location()
    reply = await registry.put(location, data, headers=OCTET)
    # "If it is not provided, the upload will not be considered complete": a 400 either way; Distribution
    # says DIGEST_INVALID, BLOB_UPLOAD_INVALID fits as well.
    expect_error(reply, 400, "DIGEST_INVALID", "BLOB_UPLOAD_INVALID")
    expect_error(await registry.get(f"/v2/{name}/blobs/{digest_of(data)}"), 404, "BLOB_UNKNOWN")


async def test_unknown_upload_id(registry: Registry, name: str) -> None:
    path = f"/v2/{name}/blobs/uploads/{uuid.uuid4()}"
    data = b"abc"
    expect_error(await registry.get(path), 404, "BLOB_UPLOAD_UNKNOWN")
    expect_error(await registry.patch(path, data, headers=chunk_headers(0, data)), 404, "BLOB_UPLOAD_UNKNOWN")
    expect_error(await registry.put(f"{path}?digest={digest_of(data)}", data), 404, "BLOB_UPLOAD_UNKNOWN")
    expect_error(await registry.delete(path), 404, "BLOB_UPLOAD_UNKNOWN")


async def test_upload_session_belongs_to_its_image(registry: Registry, name: str) -> None:
    session = await start_upload(registry, name)
    session_id = session.headers.get("Docker-Upload-UUID")
    assert session_id, str(session)
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", session_id), session_id
    elsewhere = f"/v2/{random_image()}/blobs/uploads/{session_id}"
    expect_error(await registry.get(elsewhere), 404, "BLOB_UPLOAD_UNKNOWN")
    data = b"abc"
    expect_error(
        await registry.put(f"{elsewhere}?digest={digest_of(data)}", data), 404, "BLOB_UPLOAD_UNKNOWN"
    )
    # The real session is untouched by the attempt.
    assert (await registry.get(session.location())).status == 204


# --- cross-repository mount ------------------------------------------------------------------------------


@pytest.mark.parametrize("source_repository", ["test", "other"])
async def test_mount_from_image_holding_the_blob(
    registry: Registry, name: str, source_repository: str
) -> None:
    source = random_image(source_repository)
    data = random_blob(300)
    digest = await push_blob(registry, source, data)
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?mount={digest}&from={source}", b"")
    assert reply.status == 201, str(reply)
    await assert_pullable(registry, reply, data)
    head = await registry.head(f"/v2/{name}/blobs/{digest}")
    assert head.status == 200, str(head)


async def test_mount_of_unknown_blob_starts_an_upload(registry: Registry, name: str) -> None:
    source = random_image()
    await push_image(registry, source)
    data = random_blob(50)
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?mount={digest_of(data)}&from={source}", b"")
    assert reply.status == 202, str(reply)
    reply = await registry.put(reply.location().update_query(digest=digest_of(data)), data, headers=OCTET)
    await assert_pullable(registry, reply, data)


async def test_mount_from_image_without_the_blob_does_not_expose_it(registry: Registry, name: str) -> None:
    holder, bystander = random_image(), random_image()
    data = random_blob(80)
    digest = await push_blob(registry, holder, data)
    await push_image(registry, bystander)
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?mount={digest}&from={bystander}", b"")
    assert reply.status == 202, str(reply)
    expect_error(await registry.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")
    assert (await registry.head(f"/v2/{name}/blobs/{digest}")).status == 404


async def test_mount_from_unknown_or_invalid_name_starts_an_upload(registry: Registry, name: str) -> None:
    data = random_blob(40)
    digest = await push_blob(registry, random_image(), data)
    for source in ("nosuchrepo/img", "test/Bad..Name"):
        reply = await registry.post(f"/v2/{name}/blobs/uploads/?mount={digest}&from={source}", b"")
        # The spec: "if a registry ... is unable to mount the requested blob, it SHOULD return a 202".
        assert reply.status == 202, str(reply)
    assert (await registry.head(f"/v2/{name}/blobs/{digest}")).status == 404


async def test_mount_without_from(registry: Registry, name: str) -> None:
    data = random_blob(40)
    digest = await push_blob(registry, random_image(), data)
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?mount={digest}", b"")
    # "The registry MAY treat the from parameter as optional": 201 (mounted) and 202 (upload) are both
    # conformant, but the answer must be consistent with what the image then holds.
    assert reply.status in {201, 202}, str(reply)
    head = await registry.head(f"/v2/{name}/blobs/{digest}")
    assert head.status == (200 if reply.status == 201 else 404), str(head)


async def test_malformed_digest_on_single_post_and_mount(registry: Registry, name: str) -> None:
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?digest=sha256:xyz", b"data", headers=OCTET)
    expect_error(reply, 400, "DIGEST_INVALID")
    source = random_image()
    await push_image(registry, source)
    reply = await registry.post(f"/v2/{name}/blobs/uploads/?mount=sha256:xyz&from={source}", b"")
    # "If a mount fails due to invalid repository or digest arguments, the registry will fall back to the
    # standard upload behavior" (202); refusing the malformed digest outright (400) is also reasonable.
    if reply.status != 202:
        expect_error(reply, 400, "DIGEST_INVALID")
