"""A reverse proxy's forwarded headers, believed only from a peer in ``trusted_proxies``: then the sign-in
limits count the client the proxy names (guessing from one client address does not lock out another), the
token realm follows the scheme and host the client came to, and the access log shows the client; from any
other peer the same headers change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.accounts import Accounts, basic, call
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

REPOSITORIES: list[dict[str, Any]] = [{"name": "team", "visibility": "private"}]
ALICE, ALICE_PASSWORD = "alice", "alice-password-1"
ATTACKER, NEIGHBOUR = "203.0.113.7", "203.0.113.8"


def start(factory: CargoholdFactory, trusted: list[str]) -> CargoholdServer:
    server = factory(REPOSITORIES, extra_config={"trusted_proxies": trusted})
    Accounts(server).create_user(ALICE, ALICE_PASSWORD, grants={"team": "read"})
    return server


def realm(server: CargoholdServer, headers: dict[str, str]) -> str:
    reply = call(f"{server.url}/v2/", headers=headers)
    assert reply.status == 401
    found = re.search(r'realm="([^"]+)"', reply.headers["WWW-Authenticate"])
    assert found is not None
    return found[1]


def sign_in(server: CargoholdServer, password: str, client: str) -> int:
    headers = {**basic(ALICE, password), "X-Forwarded-For": f"{client}, 127.0.0.1"}
    return call(f"{server.url}/v2/", headers=headers).status


def guess_until_refused(server: CargoholdServer, client: str) -> None:
    statuses = []
    for attempt in range(30):
        statuses.append(sign_in(server, f"guess {attempt}", client))
        if statuses[-1] == 429:
            return
    pytest.fail(f"guessing was never refused: {statuses}")


def test_from_a_trusted_proxy_the_forwarded_client_scheme_and_host_count(
    cargohold_factory: CargoholdFactory,
) -> None:
    server = start(cargohold_factory, ["127.0.0.0/8"])
    forwarded_x = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"}
    assert realm(server, forwarded_x) == "https://registry.example.com/v2/token"
    rfc_7239 = {"Forwarded": 'for=198.51.100.4;proto=https;host="mirror.example:8443"'}
    assert realm(server, rfc_7239) == "https://mirror.example:8443/v2/token"
    assert realm(server, {}) == f"http://{server.host}/v2/token"

    guess_until_refused(server, ATTACKER)
    assert sign_in(server, ALICE_PASSWORD, ATTACKER) == 429  # this client is refused for alice
    assert sign_in(server, ALICE_PASSWORD, NEIGHBOUR) == 200  # alice herself, elsewhere, is not
    assert re.search(
        rf"cargohold\.access\[\d+\]: {re.escape(ATTACKER)} \"GET /v2/", server.service.log_text()
    )


def test_from_any_other_peer_the_headers_change_nothing(cargohold_factory: CargoholdFactory) -> None:
    server = start(cargohold_factory, ["10.0.0.0/8"])  # a proxy is configured, but this peer is not it
    forwarded_x = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"}
    assert realm(server, forwarded_x) == f"http://{server.host}/v2/token"
    rfc_7239 = {"Forwarded": 'for=198.51.100.4;proto=https;host="mirror.example:8443"'}
    assert realm(server, rfc_7239) == f"http://{server.host}/v2/token"

    guess_until_refused(server, ATTACKER)
    # a made-up X-Forwarded-For does not get the attacker a fresh address: the peer is what counts
    assert sign_in(server, ALICE_PASSWORD, NEIGHBOUR) == 429
    log = server.service.log_text()
    assert ATTACKER not in log
    assert re.search(r"cargohold\.access\[\d+\]: 127\.0\.0\.1 \"GET /v2/", log)
