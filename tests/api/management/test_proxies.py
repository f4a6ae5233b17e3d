"""Proxies of a repository through /api/v1: list in priority order, add (at the end or at a position), show,
edit (a missing password keeps the stored one), remove, move (the others shift; priorities stay 1..n),
activate/deactivate; bad input answers 422 naming the field, unknown names 404, taken names 409."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import MANAGED, ManagementApi

REPO = "team"
PROXIES = f"repositories/{REPO}/proxies"


@pytest.fixture
async def team(api: ManagementApi) -> ManagementApi:
    """Repository ``team`` with proxies a, b, c in that order."""
    await api.create_repository(REPO)
    for name in ("a", "b", "c"):
        await api.add_proxy(REPO, name, f"https://{name}.example")
    return api


async def test_add_at_the_end_with_defaults_and_location(api: ManagementApi) -> None:
    await api.create_repository(REPO)
    answer = await api.post(PROXIES, {"name": "hub", "url": "https://registry-1.docker.io"})
    assert answer.status == 201, str(answer)
    assert answer.headers["Location"] == f"/api/v1/{PROXIES}/hub"
    assert answer.json == {
        "name": "hub",
        "url": "https://registry-1.docker.io",
        "username": None,
        "password_set": False,
        "ssl_validation": True,
        "connection_timeout_ms": 5000,
        "active": True,
        "priority": 1,
        "include": [],
        "exclude": [],
        "private_networks_approved": True,  # a global admin saved it
        "answer_timeout_ms": 5000,
    }
    assert await api.ok("GET", answer.headers["Location"]) == answer.json
    second = await api.add_proxy(
        REPO, "company", "https://docker.company.example", username="u", password="p"
    )
    assert second["priority"] == 2
    assert second["password_set"] is True
    assert second["username"] == "u"
    assert await api.proxy_names(REPO) == ["hub", "company"]


async def test_add_at_a_position_shifts_the_others(team: ManagementApi) -> None:
    added = await team.add_proxy(REPO, "first", "https://first.example", position=1)
    assert added["priority"] == 1
    assert await team.proxy_names(REPO) == ["first", "a", "b", "c"]
    await team.add_proxy(REPO, "third", "https://third.example", position=3)
    await team.add_proxy(REPO, "last", "https://last.example", position=6)  # n + 1 is the end
    assert await team.proxy_names(REPO) == ["first", "a", "third", "b", "c", "last"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "registry.example"}, "url"),  # no scheme
        ({"url": "ftp://registry.example"}, "url"),
        ({"url": "https://user:pw@registry.example"}, "url"),
        ({"url": "https://registry.example?x=1"}, "url"),
        ({"connection_timeout_ms": -1}, "connection_timeout_ms"),
        ({"connection_timeout_ms": 0}, "connection_timeout_ms"),
        ({"connection_timeout_ms": 600_001}, "connection_timeout_ms"),
        ({"connection_timeout_ms": "soon"}, "connection_timeout_ms"),
        ({"name": "-dash"}, "name"),
        ({"name": "has space"}, "name"),
        ({"ssl_validation": "no"}, "ssl_validation"),
        ({"position": 0}, "position"),
        ({"position": 5}, "position"),  # beyond n + 1 (n = 3)
        ({"priority": 1}, "priority"),  # read-only
        ({"password_set": True}, "password_set"),
        ({"unknown": True}, "unknown"),
    ],
)
async def test_add_with_bad_fields_answers_422(
    team: ManagementApi, fields: dict[str, Any], field: str
) -> None:
    body = {"name": "new", "url": "https://new.example", **fields}
    error = await team.fails("POST", PROXIES, body, 422, "invalid")
    assert error["field"] == field, error
    assert await team.proxy_names(REPO) == ["a", "b", "c"]


async def test_add_needs_name_and_url(team: ManagementApi) -> None:
    assert (await team.fails("POST", PROXIES, {"url": "https://x.example"}, 422, "invalid"))[
        "field"
    ] == "name"
    assert (await team.fails("POST", PROXIES, {"name": "x"}, 422, "invalid"))["field"] == "url"


async def test_duplicate_proxy_name_is_a_conflict(team: ManagementApi) -> None:
    await team.fails("POST", PROXIES, {"name": "b", "url": "https://other.example"}, 409, "conflict")
    await team.fails("PATCH", f"{PROXIES}/c", {"name": "a"}, 409, "conflict")
    assert await team.proxy_names(REPO) == ["a", "b", "c"]


async def test_unknown_repository_or_proxy_answers_404(team: ManagementApi) -> None:
    for method, path, body in [
        ("GET", "repositories/nothing/proxies", None),
        ("POST", "repositories/nothing/proxies", {"name": "x", "url": "https://x.example"}),
        ("GET", f"{PROXIES}/zzz", None),
        ("PATCH", f"{PROXIES}/zzz", {"active": False}),
        ("DELETE", f"{PROXIES}/zzz", None),
        ("POST", f"{PROXIES}/zzz/move", {"position": 1}),
        ("POST", f"{PROXIES}/zzz/activate", None),
        ("POST", f"{PROXIES}/zzz/deactivate", None),
        ("POST", f"{PROXIES}/zzz/test", None),
        ("GET", "repositories/nothing/proxies/a", None),
    ]:
        await team.fails(method, path, body, 404, "not_found")


async def test_edit_changes_only_the_fields_given_and_keeps_the_password(api: ManagementApi) -> None:
    await api.create_repository(REPO)
    await api.add_proxy(REPO, "company", "https://company.example", username="robot", password="first-pw")
    edited = await api.ok(
        "PATCH", f"{PROXIES}/company", {"connection_timeout_ms": 1500, "ssl_validation": False}
    )
    assert edited["connection_timeout_ms"] == 1500
    assert edited["ssl_validation"] is False
    assert edited["username"] == "robot"
    assert edited["url"] == "https://company.example"
    assert edited["password_set"] is True  # no password in the edit: the stored one stays
    edited = await api.ok("PATCH", f"{PROXIES}/company", {"password": "second-pw"})
    assert edited["password_set"] is True
    edited = await api.ok("PATCH", f"{PROXIES}/company", {"clear_password": True})
    assert edited["password_set"] is False
    assert await api.ok("GET", f"{PROXIES}/company") == edited


async def test_edit_renames_and_changes_url(team: ManagementApi) -> None:
    edited = await team.ok("PATCH", f"{PROXIES}/b", {"name": "bee", "url": "http://bee.example:5000"})
    assert (edited["name"], edited["url"], edited["priority"]) == ("bee", "http://bee.example:5000", 2)
    assert await team.proxy_names(REPO) == ["a", "bee", "c"]
    await team.fails("GET", f"{PROXIES}/b", None, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"connection_timeout_ms": -100}, "connection_timeout_ms"),
        ({"url": "b.example"}, "url"),
        ({"password": "x", "clear_password": True}, "clear_password"),
        ({"priority": 1}, "priority"),
        ({"nmae": "typo"}, "nmae"),
    ],
)
async def test_edit_with_bad_fields_answers_422(
    team: ManagementApi, body: dict[str, Any], field: str
) -> None:
    before = await team.ok("GET", f"{PROXIES}/b")
    error = await team.fails("PATCH", f"{PROXIES}/b", body, 422, "invalid")
    assert error["field"] == field, error
    assert await team.ok("GET", f"{PROXIES}/b") == before


async def test_remove_closes_the_gap(team: ManagementApi) -> None:
    assert await team.ok("DELETE", f"{PROXIES}/a", status=204) is None
    assert await team.proxy_names(REPO) == ["b", "c"]
    await team.fails("DELETE", f"{PROXIES}/a", None, 404, "not_found")


@pytest.mark.parametrize(
    ("proxy", "position", "order"),
    [
        ("c", 1, ["c", "a", "b"]),
        ("a", 3, ["b", "c", "a"]),
        ("a", 2, ["b", "a", "c"]),
        ("b", 2, ["a", "b", "c"]),  # to the same place: nothing changes
    ],
)
async def test_move_shifts_the_others(
    team: ManagementApi, proxy: str, position: int, order: list[str]
) -> None:
    moved = await team.ok("POST", f"{PROXIES}/{proxy}/move", {"position": position})
    assert [(p["name"], p["priority"]) for p in moved] == [(name, i) for i, name in enumerate(order, 1)]
    assert await team.proxy_names(REPO) == order


@pytest.mark.parametrize("position", [0, -1, 4, 100])
async def test_move_outside_the_list_answers_422(team: ManagementApi, position: int) -> None:
    error = await team.fails("POST", f"{PROXIES}/a/move", {"position": position}, 422, "invalid")
    assert error["field"] == "position"
    assert await team.proxy_names(REPO) == ["a", "b", "c"]


async def test_move_needs_a_position(team: ManagementApi) -> None:
    assert (await team.fails("POST", f"{PROXIES}/a/move", {}, 422, "invalid"))["field"] == "position"
    await team.fails("POST", f"{PROXIES}/a/move", None, 400, "bad_request")
    error = await team.fails("POST", f"{PROXIES}/a/move", {"position": "1st"}, 422, "invalid")
    assert error["field"] == "position"


async def test_deactivate_and_activate(team: ManagementApi) -> None:
    off = await team.ok("POST", f"{PROXIES}/b/deactivate")
    assert (off["name"], off["active"], off["priority"]) == ("b", False, 2)
    assert (await team.ok("GET", f"{PROXIES}/b"))["active"] is False
    assert (await team.ok("POST", f"{PROXIES}/b/deactivate"))["active"] is False  # idempotent
    on = await team.ok("POST", f"{PROXIES}/b/activate")
    assert on["active"] is True
    assert await team.proxy_names(REPO) == ["a", "b", "c"]


async def test_edit_can_deactivate_too(team: ManagementApi) -> None:
    assert (await team.ok("PATCH", f"{PROXIES}/c", {"active": False}))["active"] is False


async def test_managed_repository_proxies_can_be_read(api: ManagementApi) -> None:
    proxy = await api.ok("GET", f"repositories/{MANAGED}/proxies/origin")
    assert proxy["password_set"] is True
    assert "password" not in proxy
