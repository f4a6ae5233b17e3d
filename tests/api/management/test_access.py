"""Who may call what on /api/v1 and /metrics: every operation asks for credentials (401 with the Basic
challenge without them or with ones that do not work, 429 after too many failures), and each role gets
exactly what docs/access.md gives it: a plain user their own tokens and password, a repository admin that
repository, a global admin everything. A caller who may not manage a repository cannot tell whether it
exists."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cargohold.api.management.access import Access
from cargohold.api.management.operation import Operation
from cargohold.api.management.routes import OPERATIONS

from .conftest import ADMIN, ADMIN_PASSWORD, CHALLENGE, MANAGED, ManagementApi, basic, bearer

TEAM = "team"
OTHER = "other"
MISSING = "nowhere"
PASSWORD = "pl41n-user-password"


def concrete(operation: Operation, repo: str, user: str) -> str:
    """The operation's path with real names in it (relative to /api/v1)."""
    return (
        operation.path.removeprefix("/api/v1/")
        .replace("{repo}", repo)
        .replace("{proxy}", "up")
        .replace("{image}", "library/app")
        .replace("{tag}", "latest")
        .replace("{user}", user)
        .replace("{token}", "some-token")
    )


async def call(api: ManagementApi, operation: Operation, repo: str, user: str) -> int:
    body: Any = {} if operation.body is not None else None
    return (await api.request(operation.method, concrete(operation, repo, user), body)).status


@pytest.fixture
async def roles(api: ManagementApi) -> dict[str, ManagementApi]:
    """Clients of every role, with repositories ``team`` (with proxy ``up``) and ``other``."""
    for name in (TEAM, OTHER):
        await api.create_repository(name, proxies=[{"name": "up", "url": "http://127.0.0.1:9"}])
    plain = await api.user("plain", PASSWORD)
    writer = await api.user("writer", PASSWORD)
    await api.ok("PUT", f"users/writer/grants/{TEAM}", {"permission": "write"})
    owner = await api.user("owner", PASSWORD)
    await api.ok("PUT", f"users/owner/grants/{TEAM}", {"permission": "admin"})
    return {"anonymous": api.as_(None), "plain": plain, "writer": writer, "owner": owner, "admin": api}


async def test_every_operation_and_metrics_ask_for_credentials(api: ManagementApi) -> None:
    anonymous = api.as_(None)
    for operation in OPERATIONS:
        answer = await anonymous.request(operation.method, concrete(operation, MANAGED, ADMIN), {})
        assert answer.status == 401, str(answer)
        assert answer.error["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"] == CHALLENGE
    metrics = await anonymous.get("/metrics")
    assert metrics.status == 401, str(metrics)
    assert metrics.headers["WWW-Authenticate"] == CHALLENGE
    document = await anonymous.ok("GET", "openapi.json")
    assert document["paths"]


async def test_a_body_is_not_read_before_the_caller_is_known(api: ManagementApi) -> None:
    answer = await api.as_(None).post("repositories", {"name": "Bad Name", "colour": "red"})
    assert answer.status == 401, str(answer)
    assert "field" not in answer.error


@pytest.mark.parametrize(
    "authorization",
    [
        basic(ADMIN, "wrong-password"),
        basic("nobody", ADMIN_PASSWORD),
        basic(ADMIN, "cgh_" + "A" * 43),
        bearer("cgh_" + "A" * 43),
        bearer(ADMIN_PASSWORD),
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Digest username=admin",
        "Bearer",
        "",
    ],
)
async def test_credentials_that_do_not_work_answer_401(api: ManagementApi, authorization: str) -> None:
    answer = await api.as_(authorization).get("me")
    assert answer.status == 401, str(answer)
    assert answer.error["code"] == "unauthorized"
    assert ADMIN_PASSWORD not in answer.body.decode()


async def test_a_password_an_access_token_as_password_and_a_bearer_token_all_sign_in(
    api: ManagementApi,
) -> None:
    created = await api.ok("POST", f"users/{ADMIN}/tokens", {"name": "ci"}, status=201)
    for authorization in (
        basic(ADMIN, ADMIN_PASSWORD),
        basic(ADMIN, created["secret"]),
        bearer(created["secret"]),
    ):
        me = await api.as_(authorization).ok("GET", "me")
        assert me == {"name": ADMIN, "is_admin": True, "grants": {}}


async def test_a_registry_jwt_does_not_sign_in_to_the_management_api(api: ManagementApi) -> None:
    reply = await api.as_(basic(ADMIN, ADMIN_PASSWORD)).get("/v2/token?service=cargohold")
    assert reply.status == 200, str(reply)
    jwt = reply.json["token"]
    answer = await api.as_(bearer(jwt)).get("me")
    assert answer.status == 401, str(answer)


async def test_repeated_failures_are_rate_limited_with_retry_after(api: ManagementApi) -> None:
    wrong = api.as_(basic(ADMIN, "wrong-password"))
    statuses = []
    for _ in range(100):
        answer = await wrong.get("me")
        statuses.append(answer.status)
        if answer.status == 429:
            break
    assert statuses[0] == 401
    assert statuses[-1] == 429, statuses
    assert answer.error["code"] == "too_many_requests"
    assert int(answer.headers["Retry-After"]) >= 1
    metrics = await api.as_(basic(ADMIN, "wrong-password")).get("/metrics")
    assert metrics.status == 429, str(metrics)
    assert int(metrics.headers["Retry-After"]) >= 1


def expected(role: str, operation: Operation, repo: str, user: str) -> set[int]:
    """The statuses that may answer ``role`` calling ``operation`` on ``repo`` / ``user``."""
    if role == "anonymous":
        return {401}
    if role == "admin" or operation.access is Access.SIGNED_IN:
        return set()  # allowed: anything but 401 and 403
    if operation.access is Access.OWNER and user == role:
        return set()
    if operation.access is Access.MANAGE and role == "owner" and repo == TEAM:
        return set()
    return {403}


async def test_each_role_may_call_exactly_its_operations(roles: dict[str, ManagementApi]) -> None:
    # the admin goes last: its deletes must not change what the others see
    for role, client in roles.items():
        for operation in OPERATIONS:
            for repo, user in ((TEAM, role), (OTHER, ADMIN), (MISSING, "plain")):
                if role == "admin" and operation.method == "DELETE" and repo == TEAM:
                    continue
                status = await call(client, operation, repo, user)
                want = expected(role, operation, repo, user)
                where = f"{role}: {operation.method} {concrete(operation, repo, user)} -> {status}"
                if want:
                    assert status in want, where
                else:
                    assert status not in (401, 403), where


async def test_a_repository_admin_manages_their_repository_only(roles: dict[str, ManagementApi]) -> None:
    owner = roles["owner"]
    assert [r["name"] for r in await owner.ok("GET", "repositories")] == [TEAM]
    changed = await owner.ok("PATCH", f"repositories/{TEAM}", {"tag_ttl_seconds": 60})
    assert changed["tag_ttl_seconds"] == 60
    await owner.add_proxy(TEAM, "second", "https://second.example")
    await owner.ok("GET", f"repositories/{TEAM}/stats")
    # not another repository, and no telling whether one exists
    for repo in (OTHER, MISSING, MANAGED):
        answer = await owner.get(f"repositories/{repo}")
        assert answer.status == 403, str(answer)
        assert answer.error["code"] == "forbidden"
    assert (await roles["admin"].get(f"repositories/{MISSING}")).status == 404
    # not a new repository, not the deletion of its own, not users
    assert (await owner.post("repositories", {"name": "mine"})).status == 403
    assert (await owner.delete(f"repositories/{TEAM}")).status == 403
    grant = await owner.request("PUT", f"users/owner/grants/{OTHER}", {"permission": "admin"})
    assert grant.status == 403, str(grant)
    assert (await owner.get("users")).status == 403


async def test_the_repository_list_shows_what_the_caller_may_manage(roles: dict[str, ManagementApi]) -> None:
    assert await roles["plain"].ok("GET", "repositories") == []
    assert await roles["writer"].ok("GET", "repositories") == []
    assert [r["name"] for r in await roles["owner"].ok("GET", "repositories")] == [TEAM]
    every = {r["name"] for r in await roles["admin"].ok("GET", "repositories")}
    assert every == {MANAGED, TEAM, OTHER}


def repositories_in_metrics(text: str) -> set[str]:
    return {
        line.split('repository="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("cargohold_repository_requests_total{")
    }


async def test_metrics_show_the_repositories_the_caller_may_manage(roles: dict[str, ManagementApi]) -> None:
    seen = {}
    for role in ("plain", "owner", "admin"):
        answer = await roles[role].get("/metrics")
        assert answer.status == 200, str(answer)
        seen[role] = repositories_in_metrics(answer.body.decode())
    assert seen == {"plain": set(), "owner": {TEAM}, "admin": {MANAGED, TEAM, OTHER}}
