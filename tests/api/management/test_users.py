"""Users and their permissions through /api/v1: create, list, show, change the password or the admin role,
delete (with their credentials), grant and revoke permissions on repositories, and ``/me``. Passwords are
write-only: no answer and no log line ever holds one."""

from __future__ import annotations

import logging

import pytest

from .conftest import ADMIN, ADMIN_PASSWORD, ManagementApi, basic

PASSWORD = "f1rst-pa55word-of-alice"
NEW_PASSWORD = "s3cond-pa55word-of-alice"


async def test_create_list_show_and_delete_a_user(api: ManagementApi) -> None:
    answer = await api.post("users", {"name": "alice", "password": PASSWORD})
    assert answer.status == 201, str(answer)
    assert answer.headers["Location"] == "/api/v1/users/alice"
    created = answer.json
    assert set(created) == {"name", "is_admin", "created_at", "grants"}
    assert (created["name"], created["is_admin"], created["grants"]) == ("alice", False, {})
    assert created["created_at"] is not None
    assert await api.ok("GET", "users/alice") == created
    assert {user["name"] for user in await api.ok("GET", "users")} == {ADMIN, "alice"}
    assert (await api.as_(basic("alice", PASSWORD)).get("me")).status == 200

    await api.ok("DELETE", "users/alice", status=204)
    await api.fails("GET", "users/alice", None, 404, "not_found")
    await api.fails("DELETE", "users/alice", None, 404, "not_found")
    assert (await api.as_(basic("alice", PASSWORD)).get("me")).status == 401


async def test_a_deleted_users_access_tokens_stop_working(api: ManagementApi) -> None:
    alice = await api.user("alice", PASSWORD)
    assert (await alice.get("me")).status == 200
    await api.ok("DELETE", "users/alice", status=204)
    assert (await alice.get("me")).status == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Alice", "password": PASSWORD}, "name"),
        ({"name": "../x", "password": PASSWORD}, "name"),
        ({"name": "a" * 65, "password": PASSWORD}, "name"),
        ({"name": "alice", "password": "short"}, "password"),
        ({"name": "alice"}, "password"),
        ({"name": "alice", "password": PASSWORD, "is_admin": "yes"}, "is_admin"),
        ({"name": "alice", "password": PASSWORD, "role": "admin"}, "role"),
    ],
)
async def test_a_user_that_cannot_be_created_answers_422(
    api: ManagementApi, body: dict[str, object], field: str
) -> None:
    error = await api.fails("POST", "users", body, 422, "invalid")
    assert error["field"] == field
    assert PASSWORD not in error["message"]


async def test_a_taken_name_answers_409(api: ManagementApi) -> None:
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    await api.fails("POST", "users", {"name": "alice", "password": NEW_PASSWORD}, 409, "conflict")
    await api.fails("POST", "users", {"name": ADMIN, "password": NEW_PASSWORD}, 409, "conflict")


async def test_a_password_change_takes_effect_at_once(api: ManagementApi) -> None:
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    await api.ok("PATCH", "users/alice", {"password": NEW_PASSWORD})
    assert (await api.as_(basic("alice", PASSWORD)).get("me")).status == 401
    assert (await api.as_(basic("alice", NEW_PASSWORD)).get("me")).status == 200


async def test_users_change_their_own_password_but_not_their_role(api: ManagementApi) -> None:
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    alice = api.as_(basic("alice", PASSWORD))
    await alice.fails("PATCH", "users/alice", {"is_admin": True}, 403, "forbidden")
    await alice.ok("PATCH", "users/alice", {"password": NEW_PASSWORD})
    alice = api.as_(basic("alice", NEW_PASSWORD))
    assert await alice.ok("GET", "me") == {"name": "alice", "is_admin": False, "grants": {}}
    await alice.fails("PATCH", f"users/{ADMIN}", {"password": PASSWORD}, 403, "forbidden")
    await alice.fails("GET", "users", None, 403, "forbidden")
    await alice.fails("POST", "users", {"name": "bob", "password": PASSWORD}, 403, "forbidden")
    await alice.fails("DELETE", f"users/{ADMIN}", None, 403, "forbidden")


async def test_an_admin_makes_and_unmakes_admins_but_never_themselves(api: ManagementApi) -> None:
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    assert (await api.ok("PATCH", "users/alice", {"is_admin": True}))["is_admin"] is True
    alice = api.as_(basic("alice", PASSWORD))
    assert (await alice.ok("GET", "me"))["is_admin"] is True
    assert {user["name"] for user in await alice.ok("GET", "users")} == {ADMIN, "alice"}
    await alice.fails("PATCH", "users/alice", {"is_admin": False}, 409, "conflict")
    await alice.fails("DELETE", "users/alice", None, 409, "conflict")
    assert (await api.ok("PATCH", "users/alice", {"is_admin": False}))["is_admin"] is False
    await alice.fails("GET", "users", None, 403, "forbidden")


async def test_grants_give_and_take_permissions(api: ManagementApi) -> None:
    await api.create_repository("team")
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    alice = api.as_(basic("alice", PASSWORD))
    for permission in ("read", "write"):
        user = await api.ok("PUT", "users/alice/grants/team", {"permission": permission})
        assert user["grants"] == {"team": permission}
        await alice.fails("GET", "repositories/team", None, 403, "forbidden")
    user = await api.ok("PUT", "users/alice/grants/team", {"permission": "admin"})
    assert user["grants"] == {"team": "admin"}
    assert (await alice.ok("GET", "me"))["grants"] == {"team": "admin"}
    assert (await alice.ok("GET", "repositories/team"))["name"] == "team"
    assert (await api.ok("GET", "users/alice"))["grants"] == {"team": "admin"}

    await api.ok("DELETE", "users/alice/grants/team", status=204)
    await alice.fails("GET", "repositories/team", None, 403, "forbidden")
    assert (await api.ok("GET", "users/alice"))["grants"] == {}


async def test_grants_name_existing_users_and_repositories_and_a_known_permission(api: ManagementApi) -> None:
    await api.create_repository("team")
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    await api.fails("PUT", "users/alice/grants/nowhere", {"permission": "read"}, 404, "not_found")
    await api.fails("PUT", "users/nobody/grants/team", {"permission": "read"}, 404, "not_found")
    error = await api.fails("PUT", "users/alice/grants/team", {"permission": "owner"}, 422, "invalid")
    assert error["field"] == "permission"
    await api.fails("PUT", "users/alice/grants/team", None, 400, "bad_request")


async def test_no_password_in_any_answer_or_log_line(
    api: ManagementApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await api.create_repository("team")
    await api.ok("POST", "users", {"name": "alice", "password": PASSWORD}, status=201)
    await api.ok("PATCH", "users/alice", {"password": NEW_PASSWORD})
    await api.ok("PUT", "users/alice/grants/team", {"permission": "admin"})
    alice = api.as_(basic("alice", NEW_PASSWORD))
    await alice.ok("GET", "me")
    await alice.ok("GET", "repositories/team")
    await alice.ok("POST", "users/alice/tokens", {"name": "laptop"}, status=201)
    await alice.ok("GET", "users/alice")
    await api.ok("GET", "users")
    # wrong and malformed requests that carry a password
    for method, path, body in [
        ("POST", "users", {"name": "alice", "password": PASSWORD}),  # taken
        ("POST", "users", {"name": "Bad", "password": PASSWORD}),
        ("POST", "users", {"name": "bob", "password": [PASSWORD]}),
        ("POST", "users", {"name": "bob", "password": PASSWORD * 1000}),
        ("POST", "users", {"name": "bob", "password": PASSWORD, "colour": PASSWORD}),
        ("PATCH", "users/nobody", {"password": PASSWORD}),
        ("PATCH", "users/alice", {"password": 12345678}),
    ]:
        assert (await api.request(method, path, body)).status >= 400
    for authorization in (basic("alice", PASSWORD), basic(ADMIN, NEW_PASSWORD), basic(PASSWORD, PASSWORD)):
        assert (await api.as_(authorization).get("me")).status == 401
    assert len(api.history) >= 20
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert caplog.records, "the run logged nothing at all: the check would prove nothing"
    for secret in (PASSWORD, NEW_PASSWORD, ADMIN_PASSWORD):
        for answer in api.history:
            assert secret not in answer.body.decode(errors="replace"), str(answer)
            assert secret not in str(answer.headers), str(answer)
        assert secret not in logged
        assert secret not in caplog.text
