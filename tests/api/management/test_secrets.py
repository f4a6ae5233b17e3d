"""Passwords are write-only: a password given through the API (or the config file) never appears in any
answer of any endpoint, nor in any log line, whatever else the request got wrong."""

from __future__ import annotations

import logging

import pytest
from tests.support.distribution import DistributionRegistry
from tests.support.fixtures import DistributionFactory

from cargohold.api.management.routes import OPERATIONS

from .conftest import ADMIN, ADMIN_PASSWORD, CONFIG_SECRET, MANAGED, ManagementApi

SECRET = "api-s3cret-that-must-never-show"
NEW_SECRET = "an0ther-api-s3cret-never-shown"
REPO = "team"


async def exercise_everything(api: ManagementApi, upstream: DistributionRegistry) -> None:
    """Every endpoint, with the secret in every body that takes one, good and bad."""
    proxy = {"name": "company", "url": upstream.url, "username": "robot", "password": SECRET}
    await api.ok("POST", "repositories", {"name": REPO, "proxies": [proxy]}, status=201)
    base = f"repositories/{REPO}"
    await api.ok("POST", f"{base}/proxies", {**proxy, "name": "second", "position": 1}, status=201)
    await api.ok("PATCH", f"{base}/proxies/second", {"password": NEW_SECRET})
    await api.ok("PATCH", f"{base}/proxies/company", {"connection_timeout_ms": 2000})
    await api.ok("POST", f"{base}/proxies/company/test", {"image": "library/app"})
    await api.ok("POST", f"{base}/proxies-test", {**proxy, "image": "library/app"})
    # bad requests carrying the secret: none of the errors may echo it
    for method, path, body in [
        ("POST", f"{base}/proxies", {**proxy, "name": "bad", "url": "no-scheme.example"}),
        ("POST", f"{base}/proxies", {**proxy, "name": "bad", "url": f"https://robot:{SECRET}@x.example"}),
        ("POST", f"{base}/proxies", {**proxy, "name": "bad", "colour": SECRET}),
        ("POST", f"{base}/proxies", {**proxy, "name": "bad", "password": SECRET * 1000}),
        ("POST", f"{base}/proxies", {**proxy, "name": "bad", "password": [SECRET]}),
        ("POST", f"{base}/proxies", {**proxy}),  # duplicate name
        ("PATCH", f"{base}/proxies/company", {"password": SECRET, "clear_password": True}),
        ("PATCH", f"{base}/proxies/company", {"password": SECRET, "connection_timeout_ms": -1}),
        ("PATCH", f"{base}/proxies/nothing", {"password": SECRET}),
        ("PATCH", f"repositories/{MANAGED}/proxies/origin", {"password": SECRET}),
        ("POST", f"{base}/proxies-test", {**proxy, "timeout": 1}),
        ("POST", "repositories", {"name": "Bad", "proxies": [proxy]}),
    ]:
        answer = await api.request(method, path, body)
        assert answer.status >= 400, str(answer)
    for operation in OPERATIONS:
        if operation.method != "GET":
            continue
        path = (
            operation.path.removeprefix("/api/v1/")
            .replace("{repo}", REPO)
            .replace("{proxy}", "company")
            .replace("{image}", "library/app")
            .replace("{user}", ADMIN)
        )
        await api.get(path)
        await api.get(path.replace(REPO, MANAGED).replace("company", "origin"))


async def test_a_password_never_appears_in_any_answer_or_log_line(
    api: ManagementApi, caplog: pytest.LogCaptureFixture, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory(credentials=("robot", SECRET))
    caplog.set_level(logging.DEBUG)
    await exercise_everything(api, upstream)
    assert len(api.history) > 30
    for answer in api.history:
        for secret in (SECRET, NEW_SECRET, CONFIG_SECRET, ADMIN_PASSWORD):
            assert secret not in answer.body.decode(errors="replace"), str(answer)
            assert secret not in str(answer.headers), str(answer)
    logged = (
        "\n".join(
            f"{record.getMessage()} {record.exc_text or ''} {record.args!r}" for record in caplog.records
        )
        + caplog.text
    )
    assert caplog.records, "the run logged nothing at all: the check would prove nothing"
    for secret in (SECRET, NEW_SECRET, CONFIG_SECRET, ADMIN_PASSWORD):
        assert secret not in logged


async def test_the_stored_password_is_still_used_after_an_edit_without_one(
    api: ManagementApi, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory(credentials=("robot", SECRET))
    proxy = {"name": "company", "url": upstream.url, "username": "robot", "password": SECRET}
    await api.ok("POST", "repositories", {"name": REPO, "proxies": [proxy]}, status=201)
    await api.ok("PATCH", f"repositories/{REPO}/proxies/company", {"connection_timeout_ms": 3000})
    result = await api.ok("POST", f"repositories/{REPO}/proxies/company/test")
    assert result["ok"] is True, result
    await api.ok("PATCH", f"repositories/{REPO}/proxies/company", {"clear_password": True})
    result = await api.ok("POST", f"repositories/{REPO}/proxies/company/test")
    assert result["ok"] is False, result
    assert next(step["name"] for step in result["steps"] if not step["ok"]) == "auth", result
