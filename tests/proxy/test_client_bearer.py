"""``UpstreamClient`` against a real CNCF Distribution using Docker token auth (``auth: token``) through the
test token server: anonymous and authorised pulls, Docker Hub-style not-found, token caching and expiry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.errors import FailureKind, UpstreamFailedError, UpstreamNotFoundError
from cargohold.models import Digest, Proxy, Reference
from cargohold.proxy.client import UpstreamClient
from tests.proxy.test_client import push, read_blob
from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import DistributionFactory
from tests.support.images import Image, write_image
from tests.support.token_server import TokenServer

pytestmark = pytest.mark.clients

USERS = {"alice": "alice-pass", "pusher": "pusher-pass"}
ACL = {
    "": [("public/*", ["pull"])],  # anonymous: public images only
    "alice": [("*", ["pull"])],
    "pusher": [("*", ["pull", "push"])],
}
TAG = Reference(tag="1.0")


class FakeClock:
    """A monotonic clock the test moves by hand (the client's view of token age)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tokens(tmp_path: Path) -> AsyncIterator[TokenServer]:
    async with TokenServer(tmp_path / "token-server", users=USERS, acl=ACL) as server:
        yield server


@pytest.fixture
async def seeded(
    tokens: TokenServer,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> tuple[DistributionRegistry, Image]:
    """A token-auth Distribution holding ``public/app:1.0`` and ``private/app:1.0`` (the same image)."""
    upstream = distribution_factory(extra_config=tokens.distribution_config())
    image = write_image(tmp_path / "layout", tag="1.0", seed=7)
    creds = ("--dest-tls-verify=false", "--dest-creds", "pusher:pusher-pass")
    await push(container_tools, image, upstream, "public/app", *creds)
    await push(container_tools, image, upstream, "private/app", *creds)
    tokens.requests.clear()
    return upstream, image


async def test_anonymous_token_pulls_public_but_not_private(
    seeded: tuple[DistributionRegistry, Image], tokens: TokenServer
) -> None:
    upstream, image = seeded
    async with UpstreamClient(Proxy("hub-like", upstream.url)) as client:
        fetched = await client.get_manifest("public/app", TAG)
        assert str(fetched.digest) == image.digest
        layer = image.manifests[0].layers[0]
        assert Digest.of(await read_blob(client, "public/app", layer.digest)) == Digest.parse(layer.digest)

        # Docker Hub semantics: a 401 right after a valid (anonymous) token means "not here for you"
        with pytest.raises(UpstreamNotFoundError) as private:
            await client.get_manifest("private/app", TAG)
    assert private.value.proxy_name == "hub-like"
    assert {r.user for r in tokens.requests} == {""}


async def test_authorised_pull_and_missing_image(
    seeded: tuple[DistributionRegistry, Image], tokens: TokenServer
) -> None:
    upstream, image = seeded
    async with UpstreamClient(Proxy("corp", upstream.url, "alice", USERS["alice"])) as client:
        fetched = await client.get_manifest("private/app", TAG)
        assert str(fetched.digest) == image.digest
        head = await client.head_manifest("private/app", Reference(digest=fetched.digest))
        assert head.digest == fetched.digest

        with pytest.raises(UpstreamNotFoundError):
            await client.get_manifest("private/absent", TAG)
        with pytest.raises(UpstreamNotFoundError):
            await client.get_manifest("private/app", Reference(tag="9.9"))
    assert tokens.count("alice") >= 1
    assert tokens.count("") == 0, "with credentials configured, tokens are never asked for anonymously"


async def test_wrong_password_at_the_token_endpoint_is_credentials_rejected(
    seeded: tuple[DistributionRegistry, Image], tokens: TokenServer
) -> None:
    upstream, _ = seeded
    async with UpstreamClient(Proxy("corp", upstream.url, "alice", "not-her-password")) as client:
        with pytest.raises(UpstreamFailedError) as error:
            await client.get_manifest("private/app", TAG)
    assert error.value.kind is FailureKind.CREDENTIALS_REJECTED
    assert "not-her-password" not in str(error.value)
    assert "token endpoint" in error.value.message


async def test_tokens_are_cached_per_scope_and_asked_for_up_front(
    seeded: tuple[DistributionRegistry, Image], tokens: TokenServer
) -> None:
    upstream, image = seeded
    config = image.manifests[0].config
    async with UpstreamClient(Proxy("corp", upstream.url, "alice", USERS["alice"])) as client:
        await client.get_manifest("private/app", TAG)
        await client.head_manifest("private/app", TAG)
        await read_blob(client, "private/app", config.digest)
        await client.get_manifest("private/app", TAG)
        assert tokens.count() == 1

        unauthorized_before = upstream.service.log_text().count('" 401 ')
        await client.get_manifest("public/app", TAG)  # another scope: one more token, fetched up front
        assert tokens.count() == 2
        assert [r.scopes for r in tokens.requests] == [
            ("repository:private/app:pull",),
            ("repository:public/app:pull",),
        ]
        assert upstream.service.log_text().count('" 401 ') == unauthorized_before


@pytest.mark.parametrize(
    ("expires_in", "still_cached_at", "renewed_at"),
    [(30, 19.0, 21.0), (None, 49.0, 51.0)],  # renewed 10 s early; no expires_in means 60 s
)
async def test_tokens_are_renewed_before_they_expire(
    seeded: tuple[DistributionRegistry, Image],
    tokens: TokenServer,
    expires_in: int | None,
    still_cached_at: float,
    renewed_at: float,
) -> None:
    upstream, _ = seeded
    tokens.expires_in = expires_in
    clock = FakeClock()
    start = clock.now
    async with UpstreamClient(Proxy("corp", upstream.url, "alice", USERS["alice"]), clock=clock) as client:
        await client.get_manifest("private/app", TAG)
        assert tokens.count() == 1
        clock.now = start + still_cached_at
        await client.get_manifest("private/app", TAG)
        assert tokens.count() == 1
        clock.now = start + renewed_at
        await client.get_manifest("private/app", TAG)
        assert tokens.count() == 2


async def test_access_token_field_is_accepted(
    seeded: tuple[DistributionRegistry, Image], tokens: TokenServer
) -> None:
    upstream, image = seeded
    tokens.token_field = "access_token"
    async with UpstreamClient(Proxy("corp", upstream.url, "alice", USERS["alice"])) as client:
        assert str((await client.get_manifest("private/app", TAG)).digest) == image.digest
