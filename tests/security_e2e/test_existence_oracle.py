"""Whether a private repository exists is not something a caller who cannot read it can learn: a name no
repository answers to is refused exactly like a private one (401 with the same challenge anonymously, 403
for a signed-in user without a grant), and only a global admin hears 404 NAME_UNKNOWN."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.accounts import Accounts, Reply, basic, call
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

REPOSITORIES: list[dict[str, Any]] = [
    {"name": "vault", "visibility": "private"},
    {"name": "open", "visibility": "public"},
]
BOB, BOB_PASSWORD = "bob", "bob-password-1"


@pytest.fixture
def server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    server = cargohold_factory(REPOSITORIES)
    Accounts(server).create_user(BOB, BOB_PASSWORD, grants={"open": "write"})
    return server


def get(server: CargoholdServer, path: str, headers: dict[str, str] | None = None) -> Reply:
    return call(f"{server.url}/v2/{path}", headers=headers)


def shape(reply: Reply, name: str) -> tuple[int, str, list[str]]:
    """What a caller sees, with the repository's name taken out of the challenge."""
    challenge = reply.headers.get("WWW-Authenticate", "").replace(name, "<name>")
    return reply.status, challenge, reply.error_codes()


@pytest.mark.parametrize(
    "path", ["{repo}/app/manifests/1.0", "{repo}/app/tags/list", "{repo}/app/blobs/uploads/"]
)
def test_an_unknown_repository_answers_like_a_private_one(server: CargoholdServer, path: str) -> None:
    method = "POST" if path.endswith("uploads/") else "GET"
    private = call(f"{server.url}/v2/{path.format(repo='vault')}", method=method)
    unknown = call(f"{server.url}/v2/{path.format(repo='nosuchrepo')}", method=method)
    assert private.status == 401
    assert shape(unknown, "nosuchrepo") == shape(private, "vault")

    as_bob = basic(BOB, BOB_PASSWORD)
    private = get(server, "vault/app/manifests/1.0", as_bob)
    unknown = get(server, "nosuchrepo/app/manifests/1.0", as_bob)
    assert private.status == 403
    assert shape(unknown, "nosuchrepo") == shape(private, "vault")


def test_a_global_admin_is_told_the_repository_does_not_exist(server: CargoholdServer) -> None:
    reply = get(server, "nosuchrepo/app/manifests/1.0", server.admin_authorization())
    assert reply.status == 404
    assert reply.error_codes() == ["NAME_UNKNOWN"]
