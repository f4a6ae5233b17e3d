"""Fixtures of the management API tests: a cargohold app served in-process on a real socket (as
tests/oci/conftest.py does), with one repository declared in the config (``managed``, whose proxy has a
password), the first-start ``admin`` user with ``ADMIN_PASSWORD``, and ``ManagementApi``, a small client
that keeps every answer so tests can search them all.

The ``api`` fixture speaks as the global admin, with an access token (``Authorization: Bearer``) created
through the API with the admin password; ``api.as_(...)`` speaks with other credentials (or none) on the
same server and into the same history."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy
from pydantic import SecretStr

from cargohold.app import create_app
from cargohold.config import ProxyConfig, RepositoryConfig, Settings

CONFIG_SECRET = "c0nfig-s3cret-from-the-file"
MANAGED = "managed"
ADMIN = "admin"
ADMIN_PASSWORD = "adm1n-pa55word-for-tests"
CHALLENGE = 'Basic realm="cargohold"'


def basic(username: str, secret: str) -> str:
    """An ``Authorization: Basic`` value."""
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def bearer(secret: str) -> str:
    """An ``Authorization: Bearer`` value."""
    return f"Bearer {secret}"


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of an error answer, checked against the documented shape."""
        document = self.json
        assert set(document) == {"error"}, document
        error: dict[str, Any] = document["error"]
        assert error["status"] == self.status
        assert set(error) <= {"status", "code", "message", "field"}
        assert isinstance(error["message"], str)
        assert error["message"]
        return error

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.body[:500]!r}"


class ManagementApi:
    """Speaks JSON to /api/v1 over real HTTP with ``authorization`` (None: no credentials) and keeps every
    answer in ``history``."""

    def __init__(
        self,
        client: TestClient[web.Request, web.Application],
        authorization: str | None = None,
        history: list[Answer] | None = None,
    ) -> None:
        self.client = client
        self.authorization = authorization
        self.history: list[Answer] = [] if history is None else history

    def as_(self, authorization: str | None) -> ManagementApi:
        """The same server with other credentials (None: anonymous), recording into the same history."""
        return ManagementApi(self.client, authorization, self.history)

    async def user(self, name: str, password: str, **fields: Any) -> ManagementApi:
        """Create user ``name`` (as this caller) and return a client signed in as them with a new token."""
        await self.ok("POST", "users", {"name": name, "password": password, **fields}, status=201)
        return await self.as_(basic(name, password)).token_client(name)

    async def token_client(self, user: str, name: str = "tests") -> ManagementApi:
        """A client that speaks with a new access token of ``user`` (created with these credentials)."""
        created = await self.ok("POST", f"users/{user}/tokens", {"name": name}, status=201)
        return self.as_(bearer(created["secret"]))

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        if body is not None:
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        if self.authorization is not None:
            headers = {"Authorization": self.authorization, **(headers or {})}
        url = path if path.startswith("/") else f"/api/v1/{path}"
        async with self.client.request(method, url, data=data, headers=headers) as response:
            answer = Answer(method, url, response.status, response.headers, await response.read())
        self.history.append(answer)
        assert answer.status < 500, str(answer)
        if answer.status >= 400 and method != "HEAD" and url.startswith(("/api/v1", "/metrics")):
            assert answer.headers["Content-Type"].startswith("application/json"), str(answer)
            _ = answer.error
        if answer.status == 401:
            assert answer.headers["WWW-Authenticate"] == CHALLENGE, str(answer)
        return answer

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return await self.request("POST", path, body, **kwargs)

    async def patch(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return await self.request("PATCH", path, body, **kwargs)

    async def delete(self, path: str) -> Answer:
        return await self.request("DELETE", path)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """A request that must succeed with ``status``; its decoded body (None when empty)."""
        answer = await self.request(method, path, body)
        assert answer.status == status, str(answer)
        return answer.json if answer.body else None

    async def fails(self, method: str, path: str, body: Any, status: int, code: str) -> dict[str, Any]:
        """A request that must fail with ``status`` and ``code``; its ``error`` object."""
        answer = await self.request(method, path, body)
        assert answer.status == status, str(answer)
        error = answer.error
        assert error["code"] == code, str(answer)
        return error

    async def create_repository(self, name: str, **fields: Any) -> dict[str, Any]:
        created: dict[str, Any] = await self.ok("POST", "repositories", {"name": name, **fields}, status=201)
        return created

    async def add_proxy(self, repository: str, name: str, url: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "url": url, **fields}
        added: dict[str, Any] = await self.ok("POST", f"repositories/{repository}/proxies", body, status=201)
        return added

    async def proxy_names(self, repository: str) -> list[str]:
        proxies = await self.ok("GET", f"repositories/{repository}/proxies")
        assert [p["priority"] for p in proxies] == list(range(1, len(proxies) + 1)), proxies
        return [p["name"] for p in proxies]


def management_settings(data_dir: Path) -> Settings:
    return Settings(
        listen="127.0.0.1:0",
        data_dir=data_dir,
        admin_password=SecretStr(ADMIN_PASSWORD),
        repositories=[
            RepositoryConfig(
                name=MANAGED,
                hosts=["managed.example"],
                proxies=[
                    ProxyConfig(
                        name="origin",
                        url="http://127.0.0.1:9",
                        username="robot",
                        password=SecretStr(CONFIG_SECRET),
                    )
                ],
            )
        ],
    )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ManagementApi]:
    app = await create_app(management_settings(tmp_path))
    async with TestClient(TestServer(app)) as client:
        yield await ManagementApi(client, basic(ADMIN, ADMIN_PASSWORD)).token_client(ADMIN)
