"""Contract: users, their grants on repositories and their access tokens — names unique, grants and
tokens gone with their user (and grants with their repository), the last admin kept, the first user
created exactly once however many processes start together, tokens found by hash with their user, and
token uses recorded in batches."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from cargohold.errors import NameUnknownError, RepositoryExistsError, UserUnknownError, ValidationFailedError
from cargohold.metadata.sql import Metadata
from cargohold.models import Repository

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def test_users_are_created_listed_and_named_once(metadata: Metadata) -> None:
    bob = await metadata.users.create_user("bob", HASH)
    alice = await metadata.users.create_user("alice", HASH + "x", is_admin=True)
    assert (bob.name, bob.is_admin, bob.grants) == ("bob", False, {})
    assert bob.created_at is not None
    assert bob.created_at.tzinfo is not None
    assert alice.password_hash == HASH + "x"
    assert [u.name for u in await metadata.users.list_users()] == ["alice", "bob"]
    with pytest.raises(RepositoryExistsError):
        await metadata.users.create_user("bob", HASH)
    assert await metadata.users.get_user("carol") is None
    assert "argon2" not in repr(bob)


async def test_password_and_admin_changes(metadata: Metadata) -> None:
    await metadata.users.create_user("root", HASH, is_admin=True)
    await metadata.users.create_user("bob", HASH)
    await metadata.users.set_user_password("bob", "new-hash")
    bob = await metadata.users.get_user("bob")
    assert bob is not None
    assert bob.password_hash == "new-hash"
    assert (await metadata.users.set_user_admin("bob", True)).is_admin
    assert not (await metadata.users.set_user_admin("root", False)).is_admin
    for call in (
        metadata.users.set_user_password("nobody", HASH),
        metadata.users.set_user_admin("nobody", True),
        metadata.users.delete_user("nobody"),
    ):
        with pytest.raises(UserUnknownError):
            await call


async def test_the_last_admin_is_kept(metadata: Metadata) -> None:
    await metadata.users.create_user("root", HASH, is_admin=True)
    await metadata.users.create_user("bob", HASH)
    with pytest.raises(ValidationFailedError) as demoted:
        await metadata.users.set_user_admin("root", False)
    assert demoted.value.field == "is_admin"
    with pytest.raises(ValidationFailedError) as deleted:
        await metadata.users.delete_user("root")
    assert deleted.value.field == "name"
    root = await metadata.users.get_user("root")
    assert root is not None
    assert root.is_admin
    await metadata.users.delete_user("bob")  # not an admin: fine
    await metadata.users.set_user_admin("root", True)  # already one: fine


async def test_concurrent_demotions_leave_an_admin(metadata: Metadata) -> None:
    await metadata.users.create_user("a", HASH, is_admin=True)
    await metadata.users.create_user("b", HASH, is_admin=True)
    outcomes = await asyncio.gather(
        metadata.users.set_user_admin("a", False),
        metadata.users.set_user_admin("b", False),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, ValidationFailedError) for outcome in outcomes) == 1
    assert [u.name for u in await metadata.users.list_users() if u.is_admin] in (["a"], ["b"])


async def test_first_user_is_created_once_even_when_starts_race(metadata: Metadata) -> None:
    created = await asyncio.gather(
        *(metadata.users.create_first_user("admin", f"{HASH}{i}") for i in range(6))
    )
    winners = [user for user in created if user is not None]
    assert len(winners) == 1
    assert winners[0].is_admin
    assert [(u.name, u.password_hash) for u in await metadata.users.list_users()] == [
        ("admin", winners[0].password_hash)
    ]
    assert await metadata.users.create_first_user("admin", HASH) is None


async def test_first_user_is_not_created_when_any_user_exists(metadata: Metadata) -> None:
    assert not await metadata.users.has_users()
    await metadata.users.create_user("bob", HASH)
    assert await metadata.users.has_users()
    assert await metadata.users.create_first_user("admin", HASH) is None
    assert [u.name for u in await metadata.users.list_users()] == ["bob"]


async def test_grants_are_set_replaced_revoked_and_follow_their_repository(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="hub"))
    await metadata.repositories.create_repository(Repository(name="team"))
    await metadata.users.create_user("bob", HASH)
    assert (await metadata.users.set_grant("bob", "hub", "read")).grants == {"hub": "read"}
    assert (await metadata.users.set_grant("bob", "team", "write")).grants == {"hub": "read", "team": "write"}
    assert (await metadata.users.set_grant("bob", "hub", "admin")).grants == {"hub": "admin", "team": "write"}
    assert (await metadata.users.set_grant("bob", "hub", None)).grants == {"team": "write"}
    assert (await metadata.users.set_grant("bob", "hub", None)).grants == {
        "team": "write"
    }  # revoking twice: fine
    with pytest.raises(NameUnknownError):
        await metadata.users.set_grant("bob", "missing", "read")
    with pytest.raises(UserUnknownError):
        await metadata.users.set_grant("nobody", "hub", "read")

    assert await metadata.repositories.delete_repository("team")
    bob = await metadata.users.get_user("bob")
    assert bob is not None
    assert bob.grants == {}
    await metadata.repositories.create_repository(
        Repository(name="team")
    )  # a new repository of the old name: no grant
    bob = await metadata.users.get_user("bob")
    assert bob is not None
    assert bob.grants == {}


async def test_tokens_are_stored_by_hash_and_found_with_their_user(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="hub"))
    await metadata.users.create_user("bob", HASH)
    await metadata.users.set_grant("bob", "hub", "write")
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = await metadata.users.create_access_token("bob", "laptop", token_hash("cgh_secret"), expires)
    assert (created.user, created.name, created.expires_at) == ("bob", "laptop", expires)
    assert created.revoked_at is None
    assert created.last_used_at is None

    found = await metadata.users.find_access_token(token_hash("cgh_secret"))
    assert found is not None
    token, owner = found
    assert token == created
    assert (owner.name, owner.grants) == ("bob", {"hub": "write"})
    assert await metadata.users.find_access_token(token_hash("cgh_other")) is None

    async with metadata.database.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT token_hash FROM access_tokens"))).scalars().all()
    assert stored == [token_hash("cgh_secret")]


async def test_token_names_are_unique_among_live_tokens(metadata: Metadata) -> None:
    await metadata.users.create_user("bob", HASH)
    await metadata.users.create_user("carol", HASH)
    await metadata.users.create_access_token("bob", "ci", token_hash("1"), None)
    await metadata.users.create_access_token("carol", "ci", token_hash("2"), None)  # another user: fine
    with pytest.raises(RepositoryExistsError):
        await metadata.users.create_access_token("bob", "ci", token_hash("3"), None)
    with pytest.raises(UserUnknownError):
        await metadata.users.create_access_token("nobody", "ci", token_hash("4"), None)

    await metadata.users.revoke_access_token("bob", "ci")
    await metadata.users.revoke_access_token("bob", "ci")  # revoking twice: fine
    renewed = await metadata.users.create_access_token("bob", "ci", token_hash("5"), None)
    listed = await metadata.users.list_access_tokens("bob")
    assert [(t.name, t.revoked_at is not None) for t in listed] == [("ci", True), ("ci", False)]
    assert listed[1] == renewed
    found = await metadata.users.find_access_token(token_hash("1"))
    assert found is not None
    assert found[0].revoked_at is not None

    with pytest.raises(UserUnknownError):
        await metadata.users.revoke_access_token("bob", "missing")
    with pytest.raises(UserUnknownError):
        await metadata.users.list_access_tokens("nobody")


async def test_an_expired_token_gives_up_its_name(metadata: Metadata) -> None:
    await metadata.users.create_user("bob", HASH)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await metadata.users.create_access_token("bob", "old", token_hash("1"), past)
    await metadata.users.create_access_token("bob", "old", token_hash("2"), None)
    old, new = await metadata.users.list_access_tokens("bob")
    assert old.revoked_at is not None
    assert new.revoked_at is None


async def test_concurrent_token_creates_of_one_name_store_one(metadata: Metadata) -> None:
    await metadata.users.create_user("bob", HASH)
    outcomes = await asyncio.gather(
        *(metadata.users.create_access_token("bob", "ci", token_hash(str(i)), None) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(outcome, BaseException) for outcome in outcomes) == 1
    assert all(
        isinstance(outcome, RepositoryExistsError)
        for outcome in outcomes
        if isinstance(outcome, BaseException)
    )
    assert len(await metadata.users.list_access_tokens("bob")) == 1


async def test_deleting_a_user_takes_its_grants_and_tokens(metadata: Metadata) -> None:
    await metadata.repositories.create_repository(Repository(name="hub"))
    await metadata.users.create_user("root", HASH, is_admin=True)
    await metadata.users.create_user("bob", HASH)
    await metadata.users.set_grant("bob", "hub", "read")
    await metadata.users.create_access_token("bob", "ci", token_hash("bob"), None)
    await metadata.users.delete_user("bob")
    assert await metadata.users.get_user("bob") is None
    assert await metadata.users.find_access_token(token_hash("bob")) is None
    async with metadata.database.engine.connect() as connection:
        for table in ("user_grants", "access_tokens"):
            assert (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0
    recreated = await metadata.users.create_user("bob", HASH)
    assert recreated.grants == {}
    assert await metadata.users.list_access_tokens("bob") == []


async def test_token_uses_keep_the_latest_time(metadata: Metadata) -> None:
    await metadata.users.create_user("bob", HASH)
    first = await metadata.users.create_access_token("bob", "a", token_hash("a"), None)
    second = await metadata.users.create_access_token("bob", "b", token_hash("b"), None)
    assert first.id is not None
    assert second.id is not None
    early = datetime(2030, 1, 1, tzinfo=UTC)
    late = early + timedelta(hours=1)
    await metadata.users.record_token_uses({first.id: late, second.id: early, 999_999: late})
    await metadata.users.record_token_uses({first.id: early})  # an older batch arriving late changes nothing
    await metadata.users.record_token_uses({})
    used = {t.name: t.last_used_at for t in await metadata.users.list_access_tokens("bob")}
    assert used == {"a": late, "b": early}
