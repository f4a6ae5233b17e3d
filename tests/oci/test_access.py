"""Who may do what under /v2 (docs/access.md), in-process: challenges that send Docker
clients to the token endpoint, pulls of public and private repositories, pushes, 403 for the signed-in
caller without a grant, access tokens, registry JWTs limited to their scopes, the filtered catalog, mounts
from a repository the caller may not read, unreadable Authorization headers, rate-limited failed logins and
a body that stops arriving.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cargohold.api.oci.bodies import BODY_IDLE_TIMEOUT_KEY
from cargohold.app import create_app
from cargohold.auth.principal import Permission, Principal
from cargohold.auth.secrets import SecretBox
from cargohold.auth.tokens import RegistryTokens
from cargohold.auth.users import UserAdmin

from .conftest import ADMIN_PASSWORD, oci_settings
from .helpers import (
    Registry,
    basic_auth,
    digest_of,
    expect_error,
    push_blob,
    push_image,
    random_blob,
    random_image,
)

READER, WRITER, STRANGER = "reader", "writer", "stranger"
PASSWORD = "a-long-enough-password"


@pytest.fixture
async def people(users: UserAdmin) -> UserAdmin:
    """A reader and a writer of ``secret``, and a user with no grant at all."""
    for user in (READER, WRITER, STRANGER):
        await users.create(user, PASSWORD)
    await users.grant(READER, "secret", Permission.READ)
    await users.grant(WRITER, "secret", Permission.WRITE)
    await users.grant(WRITER, "vault", Permission.WRITE)
    return users


def _challenge(reply_headers: object) -> str:
    assert hasattr(reply_headers, "get")
    value = reply_headers.get("WWW-Authenticate")  # type: ignore[attr-defined]
    assert isinstance(value, str), "a 401 without a challenge"
    return value


async def test_base_endpoint_challenges_callers_without_credentials(registry: Registry) -> None:
    anonymous = registry.as_(None)
    reply = await anonymous.get("/v2/")
    expect_error(reply, 401, "UNAUTHORIZED")
    realm = f"http://{registry.base.host}:{registry.base.port}/v2/token"
    assert _challenge(reply.headers) == f'Bearer realm="{realm}",service="cargohold"'
    assert reply.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    wrong = await registry.as_(basic_auth("admin", "not-the-password")).get("/v2/")
    expect_error(wrong, 401, "UNAUTHORIZED")
    assert _challenge(wrong.headers).startswith("Bearer realm=")
    assert (await registry.get("/v2/")).status == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64",
        "Basic " + "YWRtaW4=",  # "admin" without a colon
        "Basic ",
        "Bearer ",
        "Bearer not.a.jwt",
        "Digest username=admin",
        "Basic " + "QQ==" * 1000,
        "cgh_" + "x" * 43,
    ],
)
async def test_unreadable_credentials_are_refused_like_wrong_ones(registry: Registry, header: str) -> None:
    reply = await registry.as_(header).get("/v2/")
    expect_error(reply, 401, "UNAUTHORIZED")
    assert reply.json()["errors"][0]["message"] == "invalid credentials"


async def test_anyone_pulls_a_public_repository_but_only_writers_push(registry: Registry, name: str) -> None:
    pushed = await push_image(registry, name, "1.0")
    anonymous = registry.as_(None)
    reply = await anonymous.get(f"/v2/{name}/manifests/1.0")
    assert reply.status == 200, str(reply)
    assert reply.body == pushed.manifest
    layer = await anonymous.get(f"/v2/{name}/blobs/{digest_of(pushed.layer)}")
    assert layer.status == 200, str(layer)

    refused = await anonymous.post(f"/v2/{name}/blobs/uploads/", b"")
    expect_error(refused, 401, "UNAUTHORIZED")
    assert _challenge(refused.headers).endswith(f',scope="repository:{name}:pull,push"')
    deleted = await anonymous.delete(f"/v2/{name}/manifests/{pushed.digest}")
    expect_error(deleted, 401, "UNAUTHORIZED")
    assert _challenge(deleted.headers).endswith(f',scope="repository:{name}:delete"')


async def test_private_repository_needs_a_grant(registry: Registry, people: UserAdmin) -> None:
    name = random_image("secret")
    reader = registry.as_(basic_auth(READER, PASSWORD))
    writer = registry.as_(basic_auth(WRITER, PASSWORD))
    stranger = registry.as_(basic_auth(STRANGER, PASSWORD))

    denied = await reader.post(f"/v2/{name}/blobs/uploads/", b"")
    expect_error(denied, 403, "DENIED")
    pushed = await push_image(writer, name, "1.0")

    for who in (reader, writer, registry):
        assert (await who.get(f"/v2/{name}/manifests/1.0")).body == pushed.manifest
    anonymous = await registry.as_(None).get(f"/v2/{name}/manifests/1.0")
    expect_error(anonymous, 401, "UNAUTHORIZED")
    assert _challenge(anonymous.headers).endswith(f',scope="repository:{name}:pull"')
    head = await registry.as_(None).head(f"/v2/{name}/manifests/1.0")
    assert head.status == 401
    expect_error(await stranger.get(f"/v2/{name}/manifests/1.0"), 403, "DENIED")
    expect_error(await stranger.get(f"/v2/{name}/tags/list"), 403, "DENIED")
    expect_error(await reader.delete(f"/v2/{name}/manifests/{pushed.digest}"), 403, "DENIED")
    assert (await writer.delete(f"/v2/{name}/manifests/{pushed.digest}")).status == 202


async def test_access_tokens_work_as_password_and_as_bearer(registry: Registry, people: UserAdmin) -> None:
    name = random_image("secret")
    await push_image(registry, name, "1.0")
    created = await people.create_token(READER, "laptop", None)
    assert created.secret.startswith("cgh_")
    url = f"/v2/{name}/manifests/1.0"

    assert (await registry.as_(basic_auth(READER, created.secret)).get(url)).status == 200
    assert (await registry.as_(f"Bearer {created.secret}").get(url)).status == 200
    assert (await registry.as_(f"Bearer {created.secret}").get("/v2/")).status == 200
    expect_error(await registry.as_(basic_auth(WRITER, created.secret)).get(url), 401, "UNAUTHORIZED")

    await people.revoke_token(READER, "laptop")
    expect_error(await registry.as_(basic_auth(READER, created.secret)).get(url), 401, "UNAUTHORIZED")
    expect_error(await registry.as_(f"Bearer {created.secret}").get(url), 401, "UNAUTHORIZED")


async def test_registry_tokens_hold_only_what_the_caller_may_do(
    registry: Registry, people: UserAdmin
) -> None:
    name, other = random_image("secret"), random_image("vault")
    await push_image(registry, name, "1.0")
    await push_image(registry, other, "1.0")

    async def token(authorization: str | None, *scopes: str) -> dict[str, object]:
        query = "&".join(["service=cargohold", *(f"scope={scope}" for scope in scopes)])
        reply = await registry.as_(authorization).get(f"/v2/token?{query}")
        assert reply.status == 200, str(reply)
        assert reply.headers["Cache-Control"] == "no-store"
        document: dict[str, object] = reply.json()
        assert document["token"] == document["access_token"]
        assert document["expires_in"] == 300
        assert isinstance(document["issued_at"], str)
        return document

    reader = await token(
        basic_auth(READER, PASSWORD), f"repository:{name}:pull,push", f"repository:{other}:pull"
    )
    bearer = registry.as_(f"Bearer {reader['token']}")
    assert (await bearer.get(f"/v2/{name}/manifests/1.0")).status == 200
    for refused in (
        await bearer.get(f"/v2/{other}/manifests/1.0"),  # a scope for another repository: not granted
        await bearer.post(f"/v2/{name}/blobs/uploads/", b""),  # push was asked for, not granted
    ):
        expect_error(refused, 401, "UNAUTHORIZED")
        assert 'error="insufficient_scope"' in _challenge(refused.headers)

    anonymous = await token(None, f"repository:{name}:pull", "registry:catalog:*")
    expect_error(
        await registry.as_(f"Bearer {anonymous['token']}").get(f"/v2/{name}/manifests/1.0"),
        401,
        "UNAUTHORIZED",
    )
    public = random_image("test")
    await push_image(registry, public, "1.0")
    assert (
        await registry.as_(f"Bearer {anonymous['token']}").get(f"/v2/{public}/manifests/1.0")
    ).status == 200

    writer = await token(basic_auth(WRITER, PASSWORD), f"repository:{other}:push,pull")
    assert (await push_image(registry.as_(f"Bearer {writer['token']}"), other, "2.0")).digest

    wrong = await registry.as_(basic_auth(READER, "wrong-password")).get(
        f"/v2/token?service=cargohold&scope=repository:{name}:pull"
    )
    expect_error(wrong, 401, "UNAUTHORIZED")


async def test_password_grant_on_post(registry: Registry, people: UserAdmin) -> None:
    name = random_image("secret")
    await push_image(registry, name, "1.0")
    form = (
        f"grant_type=password&username={READER}&password={PASSWORD}"
        f"&service=cargohold&scope=repository:{name}:pull"
    )
    reply = await registry.as_(None).post(
        "/v2/token", form.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 200, str(reply)
    bearer = registry.as_(f"Bearer {reply.json()['access_token']}")
    assert (await bearer.get(f"/v2/{name}/manifests/1.0")).status == 200


async def test_catalog_lists_only_what_the_caller_may_pull(registry: Registry, people: UserAdmin) -> None:
    public = sorted(random_image("test") for _ in range(3))
    private = sorted([random_image("secret"), random_image("secret"), random_image("vault")])
    for image in (*public, *private):
        await push_image(registry, image, "1.0")

    async def catalog(who: Registry, page: int) -> list[str]:
        names: list[str] = []
        reply = await who.get(f"/v2/_catalog?n={page}")
        while True:
            assert reply.status == 200, str(reply)
            names.extend(reply.json()["repositories"])
            target = reply.next_link()
            if target is None:
                return names
            reply = await who.get(target)

    secret_names = [n for n in private if n.startswith("secret/")]
    for page in (1, 2, 100):
        assert await catalog(registry.as_(None), page) == public
        assert await catalog(registry.as_(basic_auth(READER, PASSWORD)), page) == sorted(
            public + secret_names
        )
        assert await catalog(registry, page) == sorted(public + private)


async def test_mount_from_a_repository_the_caller_may_not_read_opens_a_session(
    registry: Registry, people: UserAdmin
) -> None:
    secret, vault = random_image("secret"), random_image("vault")
    blob = random_blob(300)
    digest = await push_blob(registry, secret, blob)
    await people.grant(WRITER, "secret", None)  # writer keeps write on vault, loses secret
    writer = registry.as_(basic_auth(WRITER, PASSWORD))

    reply = await writer.post(f"/v2/{vault}/blobs/uploads/?mount={digest}&from={secret}", b"")
    assert reply.status == 202, str(reply)
    expect_error(await writer.head(f"/v2/{vault}/blobs/{digest}"), 404)
    mounted = await registry.post(f"/v2/{vault}/blobs/uploads/?mount={digest}&from={secret}", b"")
    assert mounted.status == 201, str(mounted)


async def test_another_callers_upload_is_unknown(registry: Registry, people: UserAdmin) -> None:
    name = random_image("vault")
    await people.grant(READER, "vault", Permission.WRITE)
    started = await registry.as_(basic_auth(WRITER, PASSWORD)).post(f"/v2/{name}/blobs/uploads/", b"")
    assert started.status == 202
    other = registry.as_(basic_auth(READER, PASSWORD))
    reply = await other.patch(started.location(), b"data", headers={"Content-Range": "0-3"})
    expect_error(reply, 404, "BLOB_UPLOAD_UNKNOWN")
    expect_error(await registry.get(started.location()), 404, "BLOB_UPLOAD_UNKNOWN")


async def test_failed_logins_are_rate_limited_with_retry_after(registry: Registry, people: UserAdmin) -> None:
    wrong = registry.as_(basic_auth(STRANGER, "wrong-password"))
    statuses: list[int] = []
    for _ in range(50):
        reply = await wrong.get("/v2/")
        statuses.append(reply.status)
        if reply.status == 429:
            expect_error(reply, 429, "TOOMANYREQUESTS")
            assert int(reply.headers["Retry-After"]) > 0
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {401}
    # the limit holds for the right password too, until the window passes
    expect_error(await registry.as_(basic_auth(STRANGER, PASSWORD)).get("/v2/"), 429, "TOOMANYREQUESTS")


@pytest.fixture
async def impatient(tmp_path: Path) -> AsyncIterator[Registry]:
    """A registry whose bodies may pause for 0.3 s at most, spoken to as the admin."""
    app = await create_app(oci_settings(tmp_path))
    app[BODY_IDLE_TIMEOUT_KEY] = 0.3
    async with TestClient(TestServer(app)) as client:
        yield Registry(client, basic_auth("admin", ADMIN_PASSWORD))


async def test_a_body_that_stops_arriving_is_cut_off_with_408(impatient: Registry) -> None:
    registry = impatient
    started = await registry.post(f"/v2/{random_image()}/blobs/uploads/", b"")
    location = started.location()
    reader, writer = await asyncio.open_connection(location.host, location.port)
    try:
        writer.write(
            (
                f"PATCH {location.raw_path_qs} HTTP/1.1\r\nHost: {location.host}\r\n"
                f"Authorization: {registry.authorization}\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: 1000\r\n\r\n"
            ).encode()
            + b"only a few bytes"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        writer.close()
    assert re.match(rb"HTTP/1\.1 408 ", status_line), status_line
    after = await registry.get(location)
    assert after.status == 204, str(after)  # the session is still there to resume


async def test_expired_access_tokens_authenticate_nobody(registry: Registry, people: UserAdmin) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1)
    created = await people.create_token(READER, "brief", expires)
    name = random_image("secret")
    await push_image(registry, name, "1.0")
    assert (await registry.as_(basic_auth(READER, created.secret)).get("/v2/")).status == 200
    while datetime.now(UTC) <= expires:  # the wall clock, not the server, is what is waited for
        await asyncio.sleep(max(0.0, expires.timestamp() - datetime.now(UTC).timestamp()) + 0.05)
    expect_error(await registry.as_(basic_auth(READER, created.secret)).get("/v2/"), 401, "UNAUTHORIZED")


async def test_expired_or_foreign_registry_tokens_are_refused(
    registry: Registry, people: UserAdmin, tmp_path: Path
) -> None:
    name = random_image("secret")
    await push_image(registry, name, "1.0")
    reader = Principal(name=READER)
    granted = [(name, frozenset({"pull"}))]
    key = SecretBox.load_or_create(tmp_path, None).derive("registry-jwt")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = RegistryTokens(key, clock=lambda: an_hour_ago).issue(reader, granted).token
    foreign = RegistryTokens(b"k" * 32).issue(reader, granted).token
    fresh = RegistryTokens(key).issue(reader, granted).token

    assert (await registry.as_(f"Bearer {fresh}").get(f"/v2/{name}/manifests/1.0")).status == 200
    for token in (expired, foreign, fresh[:-4] + "AAAA"):
        reply = await registry.as_(f"Bearer {token}").get(f"/v2/{name}/manifests/1.0")
        expect_error(reply, 401, "UNAUTHORIZED")
        assert _challenge(reply.headers).startswith("Bearer realm=")
