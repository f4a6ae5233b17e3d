"""Fixtures of the OCI conformance suite: a cargohold app served in-process on a real socket, with two
public repositories (``test`` and ``other``), two private ones (``secret`` and ``vault``) and no default
repository, wrapped in the checking ``Registry`` client of ``helpers``.

The client speaks as the first-start ``admin`` user (``ADMIN_PASSWORD``), with an access token of theirs
(``Authorization: Bearer cgh_…``: looked up by hash, so hundreds of requests do not each pay an argon2
verification; hashing itself is made cheap for the suite). ``registry.as_(None)`` is an anonymous client
of the same server. ``users`` is the server's user administration (on the same database), for tests that
need other users, grants and tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from pydantic import SecretStr

from cargohold.app import create_app
from cargohold.auth.passwords import Passwords
from cargohold.auth.secrets import SecretBox
from cargohold.auth.users import UserAdmin
from cargohold.config import RepositoryConfig, Settings
from cargohold.metadata.sql import open_metadata
from cargohold.models import Visibility

from .helpers import Registry, random_image

ADMIN = "admin"
ADMIN_PASSWORD = "oci-admin-password"


def cheap_passwords() -> Passwords:
    """argon2id with the least work it allows: the tests check who may do what, not the hash's cost (the
    default costs most of a second per hash on a small test machine)."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cargohold.app.Passwords", cheap_passwords)


def oci_settings(data_dir: Path) -> Settings:
    return Settings(
        listen="127.0.0.1:0",
        data_dir=data_dir,
        repositories=[
            RepositoryConfig(name="test"),
            RepositoryConfig(name="other"),
            RepositoryConfig(name="secret", visibility=Visibility.PRIVATE),
            RepositoryConfig(name="vault", visibility=Visibility.PRIVATE),
        ],
        admin_password=SecretStr(ADMIN_PASSWORD),
    )


@pytest.fixture
async def registry_and_users(tmp_path: Path) -> AsyncIterator[tuple[Registry, UserAdmin]]:
    settings = oci_settings(tmp_path)
    app = await create_app(settings)
    metadata = await open_metadata(settings.database, secrets=SecretBox.load_or_create(tmp_path, None))
    try:
        users = UserAdmin(metadata.users, cheap_passwords())
        token = await users.create_token(ADMIN, "oci-suite", None)
        async with TestClient(TestServer(app)) as client:
            reg = Registry(client, f"Bearer {token.secret}")
            yield reg, users
    finally:
        await metadata.close()
    # The suite-wide rule, checked once more over the whole conversation: no request ever got a 5xx.
    failures = [str(reply) for reply in reg.history if reply.status >= 500]
    assert not failures, failures


@pytest.fixture
def registry(registry_and_users: tuple[Registry, UserAdmin]) -> Registry:
    return registry_and_users[0]


@pytest.fixture
def users(registry_and_users: tuple[Registry, UserAdmin]) -> UserAdmin:
    """The user administration of the ``registry`` fixture's server (its database and key)."""
    return registry_and_users[1]


@pytest.fixture
def name() -> str:
    """A fresh image name inside the ``test`` repository."""
    return random_image()
