"""UserAdmin: users, passwords, grants and access tokens as the API and the CLI manage them, with every
rule of docs/access.md checked (field named on refusal) and the first-start admin."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from cargohold.auth.passwords import Passwords
from cargohold.auth.principal import Permission
from cargohold.auth.users import ADMIN_NAME, UserAdmin, looks_like_token
from cargohold.errors import (
    ConfigError,
    NameUnknownError,
    RepositoryExistsError,
    UserUnknownError,
    ValidationFailedError,
)
from cargohold.metadata.sql import Metadata
from cargohold.models import Repository

GOOD = "twelve chars!"


@pytest.fixture
def admin(metadata: Metadata, passwords: Passwords) -> UserAdmin:
    return UserAdmin(metadata.users, passwords)


async def test_create_list_and_delete(admin: UserAdmin, metadata: Metadata, passwords: Passwords) -> None:
    created = await admin.create("bob", GOOD)
    await admin.create("alice", GOOD, is_admin=True)
    assert (created.name, created.is_admin, created.grants) == ("bob", False, {})
    assert [(u.name, u.is_admin) for u in await admin.list()] == [("alice", True), ("bob", False)]
    record = await metadata.users.get_user("bob")
    assert record is not None
    assert await passwords.verify(record.password_hash, GOOD)
    assert GOOD not in record.password_hash
    await admin.delete("bob")
    assert [u.name for u in await admin.list()] == ["alice"]
    with pytest.raises(UserUnknownError):
        await admin.delete("bob")


@pytest.mark.parametrize(
    "name", ["", "Bob", "-bob", "bob smith", "a" * 65, "bob/x", "..", "bob\x00", "%2e%2e", "ü"]
)
async def test_bad_user_names_are_refused(admin: UserAdmin, name: str) -> None:
    with pytest.raises(ValidationFailedError) as refused:
        await admin.create(name, GOOD)
    assert refused.value.field == "name"


@pytest.mark.parametrize("name", ["a", "bob", "0day", "a.b_c-d", "x" * 64])
async def test_good_user_names_are_accepted(admin: UserAdmin, name: str) -> None:
    assert (await admin.create(name, GOOD)).name == name


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 12"),
        ("elevenchars", "at least 12"),
        ("carol-the-user", "user name"),
        ("CAROL-THE-USER", "user name"),
        ("x" * 1025, "at most"),
        ("twelve\x00chars", "NUL"),
    ],
)
async def test_password_rules(admin: UserAdmin, password: str, why: str) -> None:
    with pytest.raises(ValidationFailedError, match=why) as refused:
        await admin.create("carol-the-user", password)
    assert refused.value.field == "password"
    assert await admin.list() == []
    await admin.create("dave", GOOD)
    with pytest.raises(ValidationFailedError) as changed:
        await admin.set_password("dave", "dave" if why == "user name" else password)
    assert changed.value.field == "password"


async def test_name_taken_and_unknown_users(admin: UserAdmin) -> None:
    await admin.create("bob", GOOD)
    with pytest.raises(RepositoryExistsError):
        await admin.create("bob", GOOD + "x")
    for call in (
        admin.set_password("nobody", GOOD),
        admin.set_admin("nobody", True),
        admin.grant("nobody", "hub", Permission.READ),
        admin.create_token("nobody", "ci", None),
        admin.list_tokens("nobody"),
        admin.revoke_token("nobody", "ci"),
    ):
        with pytest.raises(UserUnknownError):
            await call
    assert await admin.get("nobody") is None


async def test_set_password_replaces_the_hash(
    admin: UserAdmin, metadata: Metadata, passwords: Passwords
) -> None:
    await admin.create("bob", GOOD)
    await admin.set_password("bob", "another good one")
    record = await metadata.users.get_user("bob")
    assert record is not None
    assert await passwords.verify(record.password_hash, "another good one")
    assert not await passwords.verify(record.password_hash, GOOD)


async def test_admin_flag_and_the_last_admin(admin: UserAdmin) -> None:
    await admin.create("root", GOOD, is_admin=True)
    await admin.create("bob", GOOD)
    assert (await admin.set_admin("bob", True)).is_admin
    assert not (await admin.set_admin("root", False)).is_admin
    with pytest.raises(ValidationFailedError):
        await admin.set_admin("bob", False)
    with pytest.raises(ValidationFailedError):
        await admin.delete("bob")


async def test_grants(admin: UserAdmin, metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="hub"))
    await admin.create("bob", GOOD)
    assert (await admin.grant("bob", "hub", Permission.WRITE)).grants == {"hub": Permission.WRITE}
    view = await admin.get("bob")
    assert view is not None
    assert view.grants == {"hub": Permission.WRITE}
    assert isinstance(view.grants["hub"], Permission)
    assert (await admin.grant("bob", "hub", None)).grants == {}
    with pytest.raises(NameUnknownError):
        await admin.grant("bob", "nowhere", Permission.READ)
    with pytest.raises(ValidationFailedError) as refused:
        await admin.grant("bob", "hub", "owner")  # type: ignore[arg-type]
    assert refused.value.field == "permission"
    assert (await admin.grant("bob", "hub", "read")).grants == {"hub": Permission.READ}  # type: ignore[arg-type]


async def test_token_secret_is_returned_once_and_stored_hashed(admin: UserAdmin, metadata: Metadata) -> None:
    await admin.create("bob", GOOD)
    created = await admin.create_token("bob", "laptop", None)
    assert re.fullmatch(r"cgh_[A-Za-z0-9_-]{43}", created.secret)
    assert looks_like_token(created.secret)
    assert created.secret not in repr(created)
    assert (created.view.name, created.view.revoked, created.view.expires_at) == ("laptop", False, None)
    listed = await admin.list_tokens("bob")
    assert listed == [created.view]
    assert created.secret not in repr(listed)
    async with metadata.database.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT token_hash FROM access_tokens"))).scalar_one()
    assert stored == hashlib.sha256(created.secret.encode()).hexdigest()
    assert (await admin.create_token("bob", "desk", None)).secret != created.secret


async def test_token_names_expiry_and_revocation(admin: UserAdmin) -> None:
    await admin.create("bob", GOOD)
    await admin.create_token("bob", "ci", None)
    with pytest.raises(RepositoryExistsError):
        await admin.create_token("bob", "ci", None)
    for bad in ("", "-x", "a b", "x" * 65, "ci/x"):
        with pytest.raises(ValidationFailedError) as refused:
            await admin.create_token("bob", bad, None)
        assert refused.value.field == "name"
    for past in (datetime.now(UTC) - timedelta(seconds=1), datetime(2000, 1, 1)):
        with pytest.raises(ValidationFailedError) as expired:
            await admin.create_token("bob", "old", past)
        assert expired.value.field == "expires_at"
    later = datetime.now(UTC) + timedelta(days=30)
    assert (await admin.create_token("bob", "cli-Laptop.local", later)).view.expires_at == later
    naive = datetime(2099, 1, 1)
    assert (await admin.create_token("bob", "naive", naive)).view.expires_at == naive.replace(tzinfo=UTC)

    await admin.revoke_token("bob", "ci")
    assert {t.name: t.revoked for t in await admin.list_tokens("bob")}["ci"]
    with pytest.raises(UserUnknownError):
        await admin.revoke_token("bob", "missing")
    await admin.create_token("bob", "ci", None)  # a revoked token's name is free again


async def test_ensure_admin_generates_a_password_once(
    admin: UserAdmin, metadata: Metadata, passwords: Passwords
) -> None:
    generated = await admin.ensure_admin(None)
    assert generated is not None
    assert len(generated) >= 12
    users = await admin.list()
    assert [(u.name, u.is_admin) for u in users] == [(ADMIN_NAME, True)]
    record = await metadata.users.get_user(ADMIN_NAME)
    assert record is not None
    assert await passwords.verify(record.password_hash, generated)
    assert await admin.ensure_admin(None) is None
    assert await admin.ensure_admin("a given password") is None
    assert await passwords.verify(record.password_hash, generated)


async def test_ensure_admin_with_a_given_password(
    admin: UserAdmin, metadata: Metadata, passwords: Passwords
) -> None:
    with pytest.raises(ConfigError, match="at least 12") as refused:
        await admin.ensure_admin("weak")
    assert "weak" not in str(refused.value)
    assert await admin.list() == []
    assert await admin.ensure_admin("the operator's choice") is None
    record = await metadata.users.get_user(ADMIN_NAME)
    assert record is not None
    assert record.is_admin
    assert await passwords.verify(record.password_hash, "the operator's choice")


async def test_ensure_admin_does_nothing_when_users_exist(admin: UserAdmin) -> None:
    await admin.create("bob", GOOD)
    assert await admin.ensure_admin(None) is None
    assert [u.name for u in await admin.list()] == ["bob"]
