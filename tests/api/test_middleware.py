"""The error guard: a connection error of the server's own (the client still connected) is a bug, answered 500
and logged with its incident; a client that went away is covered end to end in tests/proxy_e2e."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cargohold.api.middleware import error_guard


@pytest.mark.parametrize("error", [ConnectionRefusedError, ConnectionResetError, BrokenPipeError])
async def test_a_connection_error_of_our_own_is_a_500_with_an_incident(
    error: type[ConnectionError], caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error("the database went away")

    app = web.Application(middlewares=[error_guard])
    app.router.add_get("/v2/x", handler)
    async with TestClient(TestServer(app)) as client:
        with caplog.at_level(logging.INFO, logger="cargohold.api.middleware"):
            response = await client.get("/v2/x")
            body = await response.json()

    assert response.status == 500
    assert body["errors"][0]["code"] == "UNKNOWN"
    assert "incident" in body["errors"][0]["message"]
    assert any("unhandled error" in record.getMessage() for record in caplog.records)
    assert not any("client went away" in record.getMessage() for record in caplog.records)
