"""``UpstreamClient`` against upstreams that misbehave on purpose.

These upstreams are fakes (``tests.support.fake_upstream``) because a real Distribution will not redirect
blob GETs to another host, answer 429 or 500, serve a manifest that does not match its digest, cut a body
short or stall on demand; everything it does do is tested against the real one in ``test_client.py`` and
``test_client_bearer.py``. Timeouts here are small (300 ms) so a stall is detected quickly; no test sleeps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from cargohold.errors import FailureKind, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Digest, MediaType, Proxy, Reference
from cargohold.proxy.client import BlobResponse, UpstreamClient
from tests.support.fake_upstream import (
    REGISTRY_HOST,
    STORAGE_HOST,
    Answer,
    FakeUpstream,
    RawUpstream,
    expired_server_context,
    never_answer,
    partial_body,
)
from tests.support.processes import free_port

USER, PASSWORD = "bob", "bobs-password-77"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, "layers": []}).encode()
MANIFEST_DIGEST = Digest.of(MANIFEST)
BLOB = bytes(range(256)) * 4096  # 1 MiB
BLOB_DIGEST = Digest.of(BLOB)
TAG = Reference(tag="1.0")
FAST = {"connection_timeout_ms": 300}


def manifest_answer(body: bytes = MANIFEST, digest: str | None = None, **headers: str) -> Answer:
    base = {"Content-Type": MediaType.OCI_MANIFEST, "Docker-Content-Digest": digest or str(Digest.of(body))}
    return Answer(body=body, headers={**base, **headers})


async def read_all(client: UpstreamClient, name: str, digest: Digest = BLOB_DIGEST) -> bytes:
    blob = await client.open_blob(name, digest)
    try:
        return b"".join([chunk async for chunk in blob.iter_chunks()])
    finally:
        await blob.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


# --- redirects and where credentials go -------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer"])
async def test_blob_redirect_to_another_host_carries_no_authorization(auth: str) -> None:
    async with FakeUpstream(auth=auth, credentials=(USER, PASSWORD)) as fake:
        presigned = "/bucket/blob?X-Amz-Signature=abc%2Fdef&X-Amz-Expires=300"
        fake.blobs["team/app"] = Answer(redirect_to=f"{fake.storage_url}{presigned}")
        fake.storage["/bucket/blob"] = Answer(body=BLOB)

        async with UpstreamClient(Proxy("fake", fake.url, USER, PASSWORD)) as client:
            assert await read_all(client, "team/app") == BLOB

    at_registry = fake.requests_to(REGISTRY_HOST, "/v2/")
    assert at_registry[-1].authorization is not None, "the registry itself gets the credentials"
    at_storage = fake.requests_to(STORAGE_HOST)
    assert len(at_storage) == 1
    assert at_storage[0].authorization is None, "Authorization must not follow a redirect to another host"
    assert at_storage[0].query == "X-Amz-Signature=abc%2Fdef&X-Amz-Expires=300", (
        "presigned query kept as sent"
    )


async def test_relative_redirect_on_the_same_origin_keeps_authorization() -> None:
    async with FakeUpstream(auth="basic", credentials=(USER, PASSWORD)) as fake:
        fake.blobs["team/app"] = Answer(redirect_to="/store/blob")
        fake.storage["/store/blob"] = Answer(body=BLOB)
        async with UpstreamClient(Proxy("fake", fake.url, USER, PASSWORD)) as client:
            assert await read_all(client, "team/app") == BLOB
    (landed,) = fake.requests_to(REGISTRY_HOST, "/store/")
    assert landed.authorization is not None


async def test_a_challenge_from_the_redirect_target_is_not_answered() -> None:
    async with FakeUpstream(auth="basic", credentials=(USER, PASSWORD)) as fake:
        fake.blobs["team/app"] = Answer(redirect_to=f"{fake.storage_url}/bucket/blob")
        evil = f'Bearer realm="{fake.storage_url}/steal",service="x"'
        fake.storage["/bucket/blob"] = Answer(status=401, headers={"WWW-Authenticate": evil})
        async with UpstreamClient(Proxy("fake", fake.url, USER, PASSWORD)) as client:
            with pytest.raises(UpstreamFailedError):
                await read_all(client, "team/app")
    assert fake.requests_to(STORAGE_HOST, "/steal") == []
    assert all(s.authorization is None for s in fake.requests_to(STORAGE_HOST))


async def test_a_redirect_loop_is_a_protocol_failure(fake: FakeUpstream) -> None:
    fake.blobs["team/app"] = Answer(redirect_to=f"{fake.url}/v2/team/app/blobs/{BLOB_DIGEST}")
    async with UpstreamClient(Proxy("fake", fake.url)) as client:
        with pytest.raises(UpstreamFailedError) as error:
            await client.open_blob("team/app", BLOB_DIGEST)
    assert error.value.kind is FailureKind.PROTOCOL
    assert len(fake.requests_to(REGISTRY_HOST, "/v2/")) == 6  # the first request and five redirects


# --- statuses ---------------------------------------------------------------------------------------


async def test_rate_limited_with_retry_after_seconds_and_date(fake: FakeUpstream) -> None:
    fake.manifests["seconds"] = Answer(status=429, headers={"Retry-After": "120"})
    when = datetime.now(UTC) + timedelta(seconds=90)
    fake.manifests["date"] = Answer(status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    fake.manifests["none"] = Answer(status=429)
    async with UpstreamClient(Proxy("hub", fake.url)) as client:
        errors = {}
        for name in ("seconds", "date", "none"):
            with pytest.raises(UpstreamFailedError) as error:
                await client.get_manifest(name, TAG)
            errors[name] = error.value
    assert all(e.kind is FailureKind.RATE_LIMITED for e in errors.values())
    assert errors["seconds"].retry_after == 120
    assert errors["date"].retry_after is not None
    assert 80 <= errors["date"].retry_after <= 91
    assert errors["none"].retry_after is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (500, FailureKind.SERVER_ERROR),
        (503, FailureKind.SERVER_ERROR),
        (400, FailureKind.PROTOCOL),
        (403, None),  # no access: not found
        (404, None),
    ],
)
async def test_status_mapping(fake: FakeUpstream, status: int, outcome: FailureKind | None) -> None:
    fake.manifests["team/app"] = Answer(status=status)
    fake.blobs["team/app"] = Answer(status=status)
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        for call in (client.get_manifest("team/app", TAG), client.open_blob("team/app", BLOB_DIGEST)):
            expected = UpstreamNotFoundError if outcome is None else UpstreamFailedError
            with pytest.raises(expected) as error:
                await call
            assert error.value.proxy_name == "up"
            if isinstance(error.value, UpstreamFailedError):
                assert error.value.kind is outcome
            assert str(status) in error.value.message


# --- manifest verification ----------------------------------------------------------------------


async def test_manifest_not_matching_its_docker_content_digest_is_bad_content(fake: FakeUpstream) -> None:
    fake.manifests["team/app"] = manifest_answer(digest=str(Digest.of(b"something else")))
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        with pytest.raises(UpstreamFailedError) as by_tag:
            await client.get_manifest("team/app", TAG)
        with pytest.raises(UpstreamFailedError) as by_digest:
            await client.get_manifest("team/app", Reference(digest=Digest.of(b"something else")))
    assert by_tag.value.kind is FailureKind.BAD_CONTENT
    assert by_digest.value.kind is FailureKind.BAD_CONTENT


async def test_manifest_by_sha512_digest_is_verified_with_sha512(fake: FakeUpstream) -> None:
    sha512 = Digest.of(MANIFEST, "sha512")
    fake.manifests["team/app"] = manifest_answer(digest=str(sha512))
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        fetched = await client.get_manifest("team/app", Reference(digest=sha512))
    assert fetched.digest == sha512


async def test_manifest_media_type_comes_from_content_type_or_the_json(fake: FakeUpstream) -> None:
    fake.manifests["params"] = manifest_answer(**{"Content-Type": f"{MediaType.OCI_MANIFEST}; charset=utf-8"})
    fake.manifests["json-only"] = Answer(body=MANIFEST)  # no Content-Type, no Docker-Content-Digest
    untyped = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    fake.manifests["neither"] = Answer(body=untyped)
    fake.manifests["not-json"] = Answer(body=b"<html>hello</html>", headers={"Content-Type": "text/html"})
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        assert (await client.get_manifest("params", TAG)).media_type == MediaType.OCI_MANIFEST
        json_only = await client.get_manifest("json-only", TAG)
        assert (json_only.media_type, json_only.digest) == (MediaType.OCI_MANIFEST, MANIFEST_DIGEST)
        for name in ("neither", "not-json"):
            with pytest.raises(UpstreamFailedError) as error:
                await client.get_manifest(name, TAG)
            assert error.value.kind is FailureKind.BAD_CONTENT


async def test_manifest_over_4_mib_is_bad_content(fake: FakeUpstream) -> None:
    big = b'{"pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    fake.manifests["team/app"] = manifest_answer(body=big)
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        with pytest.raises(UpstreamFailedError) as error:
            await client.get_manifest("team/app", TAG)
    assert error.value.kind is FailureKind.BAD_CONTENT


async def test_manifest_requests_accept_every_manifest_type(fake: FakeUpstream) -> None:
    fake.manifests["team/app"] = manifest_answer()
    fake.blobs["team/app"] = Answer(body=BLOB)
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        await client.get_manifest("team/app", TAG)
        await read_all(client, "team/app")
    manifest_get, blob_get = fake.requests_to(REGISTRY_HOST, "/v2/")
    accept = manifest_get.accept or ""
    for media_type in (
        MediaType.OCI_INDEX,
        MediaType.OCI_MANIFEST,
        MediaType.DOCKER_MANIFEST_LIST,
        MediaType.DOCKER_MANIFEST,
    ):
        assert media_type in accept
    assert accept.index(MediaType.DOCKER_MANIFEST) < accept.index(MediaType.DOCKER_MANIFEST_V1)
    assert blob_get.accept_encoding == "identity"


async def test_head_uses_head_and_falls_back_to_get_when_it_cannot_tell(fake: FakeUpstream) -> None:
    fake.manifests["good"] = manifest_answer()
    fake.manifests["no-digest"] = Answer(body=MANIFEST, headers={"Content-Type": MediaType.OCI_MANIFEST})
    async with UpstreamClient(Proxy("up", fake.url)) as client:
        good = await client.head_manifest("good", TAG)
        fallback = await client.head_manifest("no-digest", TAG)
    assert (good.digest, good.media_type, good.size) == (
        MANIFEST_DIGEST,
        MediaType.OCI_MANIFEST,
        len(MANIFEST),
    )
    assert (fallback.digest, fallback.size) == (MANIFEST_DIGEST, len(MANIFEST))
    assert [s.method for s in fake.requests_to(REGISTRY_HOST, "/v2/good/")] == ["HEAD"]
    assert [s.method for s in fake.requests_to(REGISTRY_HOST, "/v2/no-digest/")] == ["HEAD", "GET"]


# --- bodies that stop, stall, or never start ---------------------------------------------------------


async def drain(blob: BlobResponse) -> int:
    received = 0
    async for chunk in blob.iter_chunks():
        received += len(chunk)
    return received


async def test_truncated_blob_body_is_bad_content() -> None:
    script = partial_body(len(BLOB), BLOB[:300_000], then_stall=False)
    async with (
        RawUpstream(script) as raw,
        UpstreamClient(Proxy("raw", raw.url, **FAST), read_timeout=5) as client,
    ):
        blob = await client.open_blob("team/app", BLOB_DIGEST)
        assert blob.size == len(BLOB)
        with pytest.raises(UpstreamFailedError) as error:
            await drain(blob)
        await blob.close()
    assert error.value.kind is FailureKind.BAD_CONTENT
    assert "raw" in error.value.message


async def test_listener_that_never_answers_times_out_within_the_read_timeout() -> None:
    async with (
        RawUpstream(never_answer()) as raw,
        UpstreamClient(Proxy("silent", raw.url, **FAST), read_timeout=0.3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(UpstreamFailedError) as error:
            await client.get_manifest("team/app", TAG)
        elapsed = time.monotonic() - started
    assert error.value.kind is FailureKind.TIMEOUT
    assert 0.25 <= elapsed < 3.0
    assert raw.connections == 1


async def test_body_stalling_midway_times_out() -> None:
    received: list[bytes] = []

    async def collect(blob: BlobResponse) -> None:
        async for chunk in blob.iter_chunks():
            received.append(chunk)

    script = partial_body(len(BLOB), BLOB[:100_000], then_stall=True)
    async with (
        RawUpstream(script) as raw,
        UpstreamClient(Proxy("stall", raw.url, **FAST), read_timeout=0.3) as client,
    ):
        blob = await client.open_blob("team/app", BLOB_DIGEST)
        started = time.monotonic()
        with pytest.raises(UpstreamFailedError) as error:
            await collect(blob)
        elapsed = time.monotonic() - started
        await blob.close()
    assert error.value.kind is FailureKind.TIMEOUT
    assert b"".join(received) == BLOB[:100_000]
    assert elapsed < 3.0


async def test_port_where_nothing_listens_is_unreachable() -> None:
    port = free_port()
    async with UpstreamClient(Proxy("nobody", f"http://127.0.0.1:{port}", **FAST)) as client:
        with pytest.raises(UpstreamFailedError) as error:
            await client.open_blob("team/app", BLOB_DIGEST)
    assert error.value.kind is FailureKind.UNREACHABLE
    assert f"127.0.0.1:{port}" in error.value.message


# --- TLS -------------------------------------------------------------------------------------------


async def test_expired_certificate_accepted_only_without_ssl_validation(tmp_path: Path) -> None:
    async with FakeUpstream(ssl_context=expired_server_context(tmp_path / "tls")) as fake:
        fake.manifests["team/app"] = manifest_answer()
        async with UpstreamClient(Proxy("lax", fake.url, ssl_validation=False)) as client:
            assert (await client.get_manifest("team/app", TAG)).digest == MANIFEST_DIGEST
        async with UpstreamClient(Proxy("strict", fake.url)) as client:
            with pytest.raises(UpstreamFailedError) as error:
                await client.get_manifest("team/app", TAG)
    assert error.value.kind is FailureKind.TLS
    assert "certificate" in error.value.message
    assert "strict" in error.value.message


# --- bearer flow edge cases --------------------------------------------------------------------------


async def test_revoked_cached_token_gets_one_reauth() -> None:
    async with FakeUpstream(auth="bearer") as fake:
        fake.manifests["team/app"] = manifest_answer()
        async with UpstreamClient(Proxy("up", fake.url)) as client:
            await client.get_manifest("team/app", TAG)
            assert len(fake.token_requests) == 1
            fake.revoke_tokens()
            assert (await client.get_manifest("team/app", TAG)).digest == MANIFEST_DIGEST
            assert len(fake.token_requests) == 2


async def test_token_the_registry_never_accepts_gives_up_after_one_reauth() -> None:
    async with FakeUpstream(auth="bearer") as fake:
        fake.manifests["team/app"] = manifest_answer()
        async with UpstreamClient(Proxy("up", fake.url)) as client:
            await client.get_manifest("team/app", TAG)
            fake.accept_tokens = False
            with pytest.raises(UpstreamFailedError) as error:
                await client.get_manifest("team/app", TAG)
    assert error.value.kind is FailureKind.CREDENTIALS_REJECTED
    assert len(fake.token_requests) == 2, "one re-auth, then give up"
    assert "token refused" in error.value.message


async def test_token_endpoint_refusing_the_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cargohold")
    async with FakeUpstream(auth="bearer", credentials=(USER, "the-real-one")) as fake:
        fake.manifests["team/app"] = manifest_answer()
        async with UpstreamClient(Proxy("up", fake.url, USER, PASSWORD)) as client:
            with pytest.raises(UpstreamFailedError) as error:
                await client.get_manifest("team/app", TAG)
    assert error.value.kind is FailureKind.CREDENTIALS_REJECTED
    assert PASSWORD not in str(error.value)
    assert PASSWORD not in caplog.text


async def test_secrets_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cargohold")
    async with FakeUpstream(auth="bearer", credentials=(USER, PASSWORD)) as fake:
        fake.manifests["team/app"] = manifest_answer()
        async with UpstreamClient(Proxy("up", fake.url, USER, PASSWORD)) as client:
            await client.get_manifest("team/app", TAG)
    (token,) = fake.valid_tokens
    assert "/v2/team/app/manifests/1.0" in caplog.text, "debug logging is on and names the path"
    assert PASSWORD not in caplog.text
    assert token not in caplog.text
