"""Repositories through /api/v1: list, show, create, edit, delete; bad input answers 400/422 naming the field;
a repository declared in the config file answers 409 to every change."""

from __future__ import annotations

import pytest

from .conftest import MANAGED, ManagementApi

UPSTREAM = "http://127.0.0.1:9"


async def test_the_configured_repository_is_listed_as_managed_by_the_file(api: ManagementApi) -> None:
    repositories = await api.ok("GET", "repositories")
    assert [r["name"] for r in repositories] == [MANAGED]
    managed = repositories[0]
    assert managed["managed_by_config"] is True
    assert managed["hosts"] == ["managed.example"]
    assert managed["proxies"] == [
        {
            "name": "origin",
            "url": UPSTREAM,
            "username": "robot",
            "password_set": True,
            "ssl_validation": True,
            "connection_timeout_ms": 5000,
            "active": True,
            "priority": 1,
            "include": [],
            "exclude": [],
            "private_networks_approved": True,  # the config file declares it
            "answer_timeout_ms": 5000,
        }
    ]
    assert await api.ok("GET", f"repositories/{MANAGED}") == managed
    # public, and its proxy has credentials: anonymous pulls read what they can read
    assert managed["warnings"] == [
        f"Repository {MANAGED} is public and its proxy origin has credentials: anyone, even without signing "
        f"in, can pull through it what those credentials can read from {UPSTREAM}. Make the repository "
        "private, or remove the proxy's credentials."
    ]


async def test_create_answers_201_with_location_and_defaults(api: ManagementApi) -> None:
    answer = await api.post("repositories", {"name": "team"})
    assert answer.status == 201, str(answer)
    assert answer.headers["Location"] == "/api/v1/repositories/team"
    created = answer.json
    assert created["name"] == "team"
    assert created["visibility"] == "public"
    assert created["default"] is False
    assert created["hosts"] == []
    assert created["tag_ttl_seconds"] == 300
    assert created["managed_by_config"] is False
    assert created["proxies"] == []
    assert created["created_at"] is not None
    assert await api.ok("GET", answer.headers["Location"]) == created
    assert sorted(r["name"] for r in await api.ok("GET", "repositories")) == sorted([MANAGED, "team"])


async def test_create_with_settings_and_proxies_in_order(api: ManagementApi) -> None:
    created = await api.create_repository(
        "mirror",
        visibility="private",
        hosts=["ghcr.io"],
        tag_ttl_seconds=60,
        proxies=[
            {"name": "first", "url": "https://first.example"},
            {"name": "second", "url": "http://second.example:5000", "password": "pw", "active": False},
        ],
    )
    assert created["visibility"] == "private"
    assert created["hosts"] == ["ghcr.io"]
    assert created["tag_ttl_seconds"] == 60
    assert [(p["name"], p["priority"], p["active"], p["password_set"]) for p in created["proxies"]] == [
        ("first", 1, True, False),
        ("second", 2, False, True),
    ]


async def test_duplicate_repository_name_is_a_conflict(api: ManagementApi) -> None:
    await api.create_repository("team")
    await api.fails("POST", "repositories", {"name": "team"}, 409, "conflict")
    await api.fails("POST", "repositories", {"name": MANAGED}, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Team"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "team", "colour": "blue"}, "colour"),
        ({"name": "team", "tag_ttl_seconds": -1}, "tag_ttl_seconds"),
        ({"name": "team", "visibility": "secret"}, "visibility"),
        ({"name": "team", "default": "maybe"}, "default"),
        ({"name": "team", "hosts": "docker.io"}, "hosts"),
        ({"name": "team", "proxies": [{"name": "p", "url": "registry.example"}]}, "proxies.0.url"),
        (
            {"name": "team", "proxies": [{"name": "p", "url": "https://x.example", "extra": 1}]},
            "proxies.0.extra",
        ),
    ],
)
async def test_create_with_bad_fields_answers_422_naming_the_field(
    api: ManagementApi, body: dict[str, object], field: str
) -> None:
    error = await api.fails("POST", "repositories", body, 422, "invalid")
    assert error["field"] == field
    assert field in error["message"]
    assert [r["name"] for r in await api.ok("GET", "repositories")] == [MANAGED]


async def test_unknown_field_names_the_reason(api: ManagementApi) -> None:
    error = await api.fails("POST", "repositories", {"name": "team", "colour": "blue"}, 422, "invalid")
    assert error["message"] == "colour: unknown field"


async def test_duplicate_proxy_names_in_a_new_repository_are_refused(api: ManagementApi) -> None:
    proxies = [{"name": "p", "url": "https://a.example"}, {"name": "p", "url": "https://b.example"}]
    answer = await api.post("repositories", {"name": "team", "proxies": proxies})
    assert answer.status in (409, 422), str(answer)
    assert (await api.get("repositories/team")).status == 404


async def test_edit_changes_only_the_fields_given(api: ManagementApi) -> None:
    await api.create_repository("team", hosts=["quay.io"], tag_ttl_seconds=120)
    edited = await api.ok("PATCH", "repositories/team", {"visibility": "private"})
    assert edited["visibility"] == "private"
    assert edited["hosts"] == ["quay.io"]
    assert edited["tag_ttl_seconds"] == 120
    edited = await api.ok(
        "PATCH", "repositories/team", {"hosts": ["ghcr.io", "quay.io"], "tag_ttl_seconds": 0}
    )
    assert edited["hosts"] == ["ghcr.io", "quay.io"]
    assert edited["tag_ttl_seconds"] == 0
    assert edited["visibility"] == "private"
    assert await api.ok("GET", "repositories/team") == edited


async def test_default_moves_to_the_repository_that_takes_it(api: ManagementApi) -> None:
    await api.create_repository("first", default=True)
    await api.create_repository("second")
    await api.ok("PATCH", "repositories/second", {"default": True})
    defaults = {r["name"]: r["default"] for r in await api.ok("GET", "repositories")}
    assert defaults == {MANAGED: False, "first": False, "second": True}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tag_ttl_seconds": -5}, "tag_ttl_seconds"),
        ({"name": "renamed"}, "name"),
        ({"visibility": "everyone"}, "visibility"),
        ({"hosts": ["not a host"]}, "hosts"),
    ],
)
async def test_edit_with_bad_fields_answers_422(
    api: ManagementApi, body: dict[str, object], field: str
) -> None:
    await api.create_repository("team")
    error = await api.fails("PATCH", "repositories/team", body, 422, "invalid")
    assert error["field"].startswith(field), error


async def test_unknown_repository_answers_404(api: ManagementApi) -> None:
    await api.fails("GET", "repositories/nothing", None, 404, "not_found")
    await api.fails("PATCH", "repositories/nothing", {"visibility": "private"}, 404, "not_found")
    await api.fails("DELETE", "repositories/nothing", None, 404, "not_found")


async def test_delete_removes_the_repository(api: ManagementApi) -> None:
    await api.create_repository("team", proxies=[{"name": "p", "url": "https://a.example"}])
    assert await api.ok("DELETE", "repositories/team", status=204) is None
    await api.fails("GET", "repositories/team", None, 404, "not_found")
    await api.fails("DELETE", "repositories/team", None, 404, "not_found")
    await api.create_repository("team")  # the name is free again


async def test_a_repository_from_the_config_file_refuses_every_change(api: ManagementApi) -> None:
    before = await api.ok("GET", f"repositories/{MANAGED}")
    base = f"repositories/{MANAGED}"
    changes: list[tuple[str, str, object]] = [
        ("PATCH", base, {"visibility": "private"}),
        ("DELETE", base, None),
        ("POST", f"{base}/proxies", {"name": "more", "url": "https://more.example"}),
        ("PATCH", f"{base}/proxies/origin", {"connection_timeout_ms": 10}),
        ("DELETE", f"{base}/proxies/origin", None),
        ("POST", f"{base}/proxies/origin/move", {"position": 1}),
        ("POST", f"{base}/proxies/origin/deactivate", None),
        ("POST", f"{base}/proxies/origin/activate", None),
    ]
    for method, path, body in changes:
        error = await api.fails(method, path, body, 409, "conflict")
        assert "config" in error["message"], error
    assert await api.ok("GET", base) == before
