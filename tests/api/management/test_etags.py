"""Optimistic concurrency in /api/v1: repository and proxy resources carry an ``ETag`` (GET and write
answers), and every change honours ``If-Match``: a version that is no longer current answers 412 with the
JSON error, so two admins editing the same proxy list cannot overwrite each other unseen."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import ManagementApi

REPO = "team"
PROXIES = f"repositories/{REPO}/proxies"


@pytest.fixture
async def team(api: ManagementApi) -> ManagementApi:
    """Repository ``team`` with proxies a and b."""
    await api.create_repository(REPO)
    for name in ("a", "b"):
        await api.add_proxy(REPO, name, f"https://{name}.example")
    return api


async def etag(api: ManagementApi, path: str) -> str:
    answer = await api.get(path)
    assert answer.status == 200, str(answer)
    return answer.headers["ETag"]


async def test_every_read_and_write_answers_an_etag_that_changes_with_it(team: ManagementApi) -> None:
    repository = await etag(team, f"repositories/{REPO}")
    assert repository.startswith('"')
    assert repository.endswith('"')
    assert await etag(team, f"repositories/{REPO}") == repository  # stable while nothing changes
    assert await etag(team, PROXIES) == repository  # the list is the repository's
    proxy = await etag(team, f"{PROXIES}/a")
    assert proxy != repository

    changed = await team.patch(f"{PROXIES}/a", {"connection_timeout_ms": 1000}, headers={"If-Match": proxy})
    assert changed.status == 200, str(changed)
    assert changed.headers["ETag"] not in (proxy, repository)
    assert changed.headers["ETag"] == await etag(team, f"{PROXIES}/a")
    assert await etag(team, f"repositories/{REPO}") != repository  # a proxy change is a repository change

    created = await team.post("repositories", {"name": "other"})
    assert created.headers["ETag"] == await etag(team, "repositories/other")
    added = await team.post(PROXIES, {"name": "c", "url": "https://c.example"})
    assert added.headers["ETag"] == await etag(team, f"{PROXIES}/c")


async def test_a_stale_if_match_answers_412_and_changes_nothing(team: ManagementApi) -> None:
    read = await etag(team, f"{PROXIES}/a")
    repository_read = await etag(team, f"repositories/{REPO}")
    # another admin changes the list meanwhile
    assert (await team.post(f"{PROXIES}/b/move", {"position": 1})).status == 200

    stale = await team.patch(f"{PROXIES}/a", {"url": "https://mine.example"}, headers={"If-Match": read})
    assert stale.status == 412
    assert stale.error["code"] == "precondition_failed"
    assert "changed since" in stale.error["message"]
    assert (await team.ok("GET", f"{PROXIES}/a"))["url"] == "https://a.example"

    for method, path, body in (
        ("PATCH", f"repositories/{REPO}", {"tag_ttl_seconds": 5}),
        ("POST", f"{PROXIES}/a/move", {"position": 1}),
        ("POST", PROXIES, {"name": "late", "url": "https://late.example"}),
        ("POST", f"{PROXIES}/a/deactivate", None),
        ("DELETE", f"{PROXIES}/a", None),
        ("DELETE", f"repositories/{REPO}", None),
    ):
        answer = await team.request(method, path, body, headers={"If-Match": repository_read})
        assert answer.status == 412, str(answer)
        assert answer.error["code"] == "precondition_failed"
    assert await team.proxy_names(REPO) == ["b", "a"]

    current = await etag(team, PROXIES)
    moved = await team.post(f"{PROXIES}/a/move", {"position": 1}, headers={"If-Match": current})
    assert moved.status == 200, str(moved)
    assert moved.headers["ETag"] == await etag(team, PROXIES)
    assert await team.proxy_names(REPO) == ["a", "b"]
    assert (await team.request("DELETE", f"{PROXIES}/b", headers={"If-Match": "*"})).status == 204


@pytest.mark.parametrize(
    "if_match",
    ['W/"1.1"', "garbage", '"999999.1"', '"1.1.999999"', '""', ",,,", '"1"', "x" * 5000],
)
async def test_an_if_match_of_another_resource_or_malformed_is_412_never_500(
    team: ManagementApi, if_match: str
) -> None:
    answer = await team.patch(f"{PROXIES}/a", {"active": False}, headers={"If-Match": if_match})
    assert answer.status == 412, str(answer)
    assert answer.error["code"] == "precondition_failed"
    assert (await team.ok("GET", f"{PROXIES}/a"))["active"] is True


async def test_two_admins_racing_with_the_same_etag_one_wins_one_gets_412(team: ManagementApi) -> None:
    read = await etag(team, PROXIES)
    answers = await asyncio.gather(
        *(
            team.post(f"{PROXIES}/{name}/move", {"position": 2}, headers={"If-Match": read})
            for name in ("a", "a", "b", "b")
        )
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200, 412, 412, 412], [str(answer) for answer in answers]
    winner = next(answer for answer in answers if answer.status == 200)
    assert [proxy["name"] for proxy in winner.json] == await team.proxy_names(REPO)


async def test_the_document_describes_if_match_etag_and_412(api: ManagementApi) -> None:
    document = await api.ok("GET", "/api/v1/openapi.json")
    update = document["paths"]["/api/v1/repositories/{repo}/proxies/{proxy}"]["patch"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in update["parameters"])
    assert "412" in update["responses"]
    assert "ETag" in update["responses"]["200"]["headers"]
