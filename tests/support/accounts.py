"""Users, grants and access tokens on a running cargohold, made through its ``/api/v1`` as the first-start
admin, and plain HTTP calls with chosen credentials (``call``), for end-to-end auth tests.

``Accounts(server).create_user("alice", "pw", grants={"private": "read"})`` creates a user with grants;
``create_token`` returns the access token's secret (shown once by the server).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.support.server import CargoholdServer


def basic(username: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization: Bearer`` header."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        """The codes of a /v2 error envelope."""
        return [str(error["code"]) for error in self.json()["errors"]]


def call(
    url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None, data: bytes | None = None
) -> Reply:
    """One HTTP request; error statuses are replies too."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


class Accounts:
    """The user administration of one running server, spoken to as its admin."""

    def __init__(self, server: CargoholdServer) -> None:
        self.server = server

    def _api(self, method: str, path: str, body: object = None) -> Any:
        headers = {**self.server.admin_authorization(), "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        reply = call(f"{self.server.url}/api/v1/{path}", method=method, headers=headers, data=data)
        assert 200 <= reply.status < 300, f"{method} /api/v1/{path} -> {reply.status} {reply.body[:500]!r}"
        return reply.json() if reply.body else None

    def create_user(
        self, name: str, password: str, *, grants: Mapping[str, str] | None = None, is_admin: bool = False
    ) -> None:
        self._api("POST", "users", {"name": name, "password": password, "is_admin": is_admin})
        for repository, permission in (grants or {}).items():
            self.grant(name, repository, permission)

    def grant(self, user: str, repository: str, permission: str) -> None:
        self._api("PUT", f"users/{user}/grants/{repository}", {"permission": permission})

    def create_token(self, user: str, name: str, expires_at: datetime | None = None) -> str:
        """A new access token of ``user``; its secret."""
        body: dict[str, object] = {"name": name}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        created = self._api("POST", f"users/{user}/tokens", body)
        secret: str = created["secret"]
        return secret

    def revoke_token(self, user: str, name: str) -> None:
        self._api("DELETE", f"users/{user}/tokens/{name}")

    def registry_token(self, scopes: list[str], headers: Mapping[str, str] | None = None) -> Reply:
        """``GET /v2/token?service=cargohold&scope=…`` with ``headers`` (credentials or none)."""
        query = "&".join(["service=cargohold", *(f"scope={s}" for s in scopes)])
        return call(f"{self.server.url}/v2/token?{query}", headers=headers)
