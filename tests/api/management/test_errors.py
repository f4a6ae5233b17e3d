"""How /api/v1 answers what is not a well-formed request: malformed JSON (400), a body that is not an
object (422), bodies over 64 KiB (413), unknown paths (404) and methods (405), all in the JSON error shape."""

from __future__ import annotations

import json

import pytest

from cargohold.api.management.bodies import MAX_JSON_BODY

from .conftest import ManagementApi


@pytest.mark.parametrize("raw", [b"{", b"{'name': 'team'}", b"name=team", b"\xff\xfe", b"[" * 50_000])
async def test_malformed_json_is_400(api: ManagementApi, raw: bytes) -> None:
    answer = await api.post("repositories", data=raw, headers={"Content-Type": "application/json"})
    assert answer.status == 400, str(answer)
    assert answer.error["code"] == "bad_request"
    assert "JSON" in answer.error["message"]


@pytest.mark.parametrize("document", [[], "team", 5, None])
async def test_a_body_that_is_not_an_object_is_422(api: ManagementApi, document: object) -> None:
    answer = await api.post("repositories", data=json.dumps(document).encode())
    assert answer.status == 422, str(answer)
    assert answer.error["field"] == "body"


async def test_a_required_body_that_is_missing_is_400(api: ManagementApi) -> None:
    answer = await api.post("repositories")
    assert answer.status == 400, str(answer)
    assert answer.error["code"] == "bad_request"


async def test_bodies_over_the_limit_are_413_and_change_nothing(api: ManagementApi) -> None:
    body = json.dumps({"name": "team", "hosts": ["x" * 100] * (MAX_JSON_BODY // 100)}).encode()
    assert len(body) > MAX_JSON_BODY
    answer = await api.post("repositories", data=body)
    assert answer.status == 413, str(answer)
    assert answer.error["code"] == "too_large"

    async def chunked() -> object:  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b" " * (MAX_JSON_BODY // 4)

    headers = {"Authorization": api.authorization or ""}
    async with api.client.post("/api/v1/repositories", data=chunked(), headers=headers) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "too_large"
    assert (await api.get("repositories/team")).status == 404


async def test_unknown_paths_and_methods_answer_in_the_error_shape(api: ManagementApi) -> None:
    answer = await api.get("no-such-thing")
    assert answer.status == 404
    assert answer.error["code"] == "not_found"
    answer = await api.request("PUT", "repositories")
    assert answer.status == 405
    assert answer.error["code"] == "method_not_allowed"
    assert set(answer.headers["Allow"].split(",")) >= {"GET", "POST"}


async def test_health_endpoints_still_answer(api: ManagementApi) -> None:
    assert (await api.get("/healthz")).status == 200
    assert (await api.get("/readyz")).status == 200
