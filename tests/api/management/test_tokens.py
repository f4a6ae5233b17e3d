"""Personal access tokens through /api/v1: created with a secret that is shown once (in the answer to the
POST and nowhere else, ever), listed without it, usable as a password or a Bearer token, revocable; a
revoked or expired token signs nobody in. Users manage their own tokens; only an admin those of others."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cargohold.auth.passwords import Passwords
from cargohold.auth.secrets import SecretBox
from cargohold.auth.users import UserAdmin
from cargohold.metadata.sql import open_metadata

from .conftest import ADMIN, ManagementApi, basic, bearer

PASSWORD = "pa55word-of-alice"
SECRET_RE = re.compile(r"^cgh_[A-Za-z0-9_-]{43}$")


async def test_the_secret_is_shown_once_and_works_as_password_and_bearer(api: ManagementApi) -> None:
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    alice = api.as_(basic("alice", PASSWORD))
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    created = await alice.ok(
        "POST", "users/alice/tokens", {"name": "laptop", "expires_at": in_a_week.isoformat()}, status=201
    )
    secret = created.pop("secret")
    assert SECRET_RE.fullmatch(secret), secret
    assert created["name"] == "laptop"
    assert created["revoked"] is False
    assert datetime.fromisoformat(created["expires_at"]) == in_a_week
    answers_before = len(api.history)

    for authorization in (bearer(secret), basic("alice", secret)):
        assert (await api.as_(authorization).ok("GET", "me"))["name"] == "alice"
    listed = await alice.ok("GET", "users/alice/tokens")
    assert [token["name"] for token in listed] == ["laptop"]
    assert "secret" not in listed[0]
    await api.ok("GET", "users/alice/tokens")
    await api.ok("GET", "users/alice")
    await api.ok("GET", "users")
    for answer in api.history[answers_before:]:
        assert secret not in answer.body.decode(), str(answer)
        assert secret not in str(answer.headers), str(answer)


async def test_a_revoked_token_signs_nobody_in(api: ManagementApi) -> None:
    alice = await api.user("alice", PASSWORD)
    created = await alice.ok("POST", "users/alice/tokens", {"name": "ci"}, status=201)
    ci = api.as_(bearer(created["secret"]))
    assert (await ci.get("me")).status == 200
    await alice.ok("DELETE", "users/alice/tokens/ci", status=204)
    for authorization in (bearer(created["secret"]), basic("alice", created["secret"])):
        answer = await api.as_(authorization).get("me")
        assert answer.status == 401, str(answer)
    listed = {token["name"]: token for token in await alice.ok("GET", "users/alice/tokens")}
    assert listed.get("ci", {"revoked": True})["revoked"] is True
    assert (await alice.get("me")).status == 200  # the other token still works


async def test_an_expired_token_signs_nobody_in(api: ManagementApi, tmp_path: Path) -> None:
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    # a token made an hour ago that expired a minute ago: the server's own UserAdmin refuses a past expiry,
    # so it is made through a second one, on the same database, whose clock is an hour behind
    now = datetime.now(UTC)
    secrets = SecretBox.load_or_create(tmp_path, None)
    store = await open_metadata(f"sqlite:///{tmp_path}/cargohold.db", secrets=secrets)
    try:
        earlier = UserAdmin(store.users, Passwords(), clock=lambda: now - timedelta(hours=1))
        created = await earlier.create_token("alice", "old", now - timedelta(minutes=1))
    finally:
        await store.close()
    for authorization in (bearer(created.secret), basic("alice", created.secret)):
        answer = await api.as_(authorization).get("me")
        assert answer.status == 401, str(answer)
    (listed,) = await api.ok("GET", "users/alice/tokens")
    assert datetime.fromisoformat(listed["expires_at"]) < datetime.now(UTC)


async def test_a_token_cannot_be_made_to_expire_in_the_past_or_without_a_time_zone(
    api: ManagementApi,
) -> None:
    for expires_at in ("2001-01-01T00:00:00Z", "2999-01-01T00:00:00", "tomorrow", 1893456000):
        error = await api.fails(
            "POST", f"users/{ADMIN}/tokens", {"name": "x", "expires_at": expires_at}, 422, "invalid"
        )
        assert error["field"] == "expires_at", error
    assert "x" not in {token["name"] for token in await api.ok("GET", f"users/{ADMIN}/tokens")}


async def test_token_names_are_unique_per_user_and_checked(api: ManagementApi) -> None:
    await api.ok("POST", f"users/{ADMIN}/tokens", {"name": "ci"}, status=201)
    await api.fails("POST", f"users/{ADMIN}/tokens", {"name": "ci"}, 409, "conflict")
    error = await api.fails("POST", f"users/{ADMIN}/tokens", {"name": "no spaces"}, 422, "invalid")
    assert error["field"] == "name"
    await api.fails("POST", f"users/{ADMIN}/tokens", {}, 422, "invalid")
    await api.fails("DELETE", f"users/{ADMIN}/tokens/nothing", None, 404, "not_found")
    await api.fails("GET", "users/nobody/tokens", None, 404, "not_found")
    await api.fails("POST", "users/nobody/tokens", {"name": "ci"}, 404, "not_found")


async def test_users_manage_their_own_tokens_and_admins_everyones(api: ManagementApi) -> None:
    alice = await api.user("alice", PASSWORD)
    bob = await api.user("bob", PASSWORD)
    await bob.ok("POST", "users/bob/tokens", {"name": "bobs"}, status=201)
    for method, path, body in [
        ("GET", "users/bob/tokens", None),
        ("POST", "users/bob/tokens", {"name": "sneaky"}),
        ("DELETE", "users/bob/tokens/bobs", None),
        ("GET", f"users/{ADMIN}/tokens", None),
        ("GET", "users/bob", None),
    ]:
        await alice.fails(method, path, body, 403, "forbidden")
    made_by_admin = await api.ok("POST", "users/bob/tokens", {"name": "from-admin"}, status=201)
    assert (await api.as_(bearer(made_by_admin["secret"])).ok("GET", "me"))["name"] == "bob"
    assert {t["name"] for t in await api.ok("GET", "users/bob/tokens")} == {"tests", "bobs", "from-admin"}
    await api.ok("DELETE", "users/bob/tokens/bobs", status=204)
    assert {t["name"] for t in await bob.ok("GET", "users/bob/tokens") if not t["revoked"]} == {
        "tests",
        "from-admin",
    }
