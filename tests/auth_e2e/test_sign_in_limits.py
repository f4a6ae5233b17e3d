"""Limits on failed sign-ins slow the attacker, not everyone else, on a running server: someone spraying
made-up user names from an address shared with others does not lock those others out, and guessing one
user's password does not lock that user out of their access tokens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.accounts import Accounts, basic, bearer, call
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

REPOSITORIES: list[dict[str, Any]] = [{"name": "team", "visibility": "private"}]
ALICE, ALICE_PASSWORD = "alice", "alice-password-1"
BOB, BOB_PASSWORD = "bob", "bob-password-1"


@pytest.fixture
def server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    server = cargohold_factory(REPOSITORIES)
    accounts = Accounts(server)
    accounts.create_user(ALICE, ALICE_PASSWORD, grants={"team": "read"})
    accounts.create_user(BOB, BOB_PASSWORD, grants={"team": "read"})
    return server


def v2(server: CargoholdServer, headers: dict[str, str]) -> int:
    return call(f"{server.url}/v2/", headers=headers).status


def test_spraying_made_up_names_does_not_lock_out_other_users_of_the_address(server: CargoholdServer) -> None:
    statuses = [v2(server, basic(f"nobody{i}", "a guessed password")) for i in range(40)]
    assert set(statuses) == {401}
    assert v2(server, basic(BOB, BOB_PASSWORD)) == 200


def test_guessing_a_password_locks_the_guesser_out_but_not_the_users_tokens(server: CargoholdServer) -> None:
    token = Accounts(server).create_token(ALICE, "ci")
    statuses = []
    for i in range(30):
        statuses.append(v2(server, basic(ALICE, f"guess {i}")))
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {401}
    assert v2(server, basic(ALICE, token)) == 200
    assert v2(server, bearer(token)) == 200
    assert v2(server, basic(BOB, BOB_PASSWORD)) == 200
