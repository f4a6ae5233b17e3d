"""Upload sessions are bounded: one user, and one repository, may have only so many open at once (429
TOOMANYREQUESTS with a message saying which cap, through the /v2 API and to a real skopeo push), and a
session idle for ``gc.upload_max_idle_seconds`` has expired: it answers BLOB_UPLOAD_UNKNOWN itself (garbage
collection is off here, so nothing removed it) and stops counting toward the caps: a skopeo push held back
by the cap (containers/image backs off on 429) goes through once the idle sessions of its user expire.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, log_lines
from tests.support.accounts import Accounts, Reply, basic, call
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory
from tests.support.images import write_image
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

ALICE = ("alice", "alice-password-1")
BOB = ("bob", "bob-password-12")
LOCAL = [{"name": "local", "visibility": "private"}]


def start_session(server: CargoholdServer, who: tuple[str, str]) -> Reply:
    return call(f"{server.url}/v2/local/app/blobs/uploads/", method="POST", headers=basic(*who))


def session_path(reply: Reply) -> str:
    assert reply.status == 202, reply.body
    return reply.headers["Location"]


def error(reply: Reply) -> tuple[str, str]:
    (entry,) = reply.json()["errors"]
    return entry["code"], entry["message"]


def with_users(server: CargoholdServer) -> None:
    accounts = Accounts(server)
    accounts.create_user(*ALICE, grants={"local": "write"})
    accounts.create_user(*BOB, grants={"local": "write"})


def test_sessions_are_capped_per_user_and_per_repository(cargohold_factory: CargoholdFactory) -> None:
    server = cargohold_factory(
        LOCAL, extra_config={"uploads": {"max_sessions_per_user": 3, "max_sessions_per_repository": 5}}
    )
    with_users(server)
    alice = [session_path(start_session(server, ALICE)) for _ in range(3)]
    refused = start_session(server, ALICE)
    assert refused.status == 429
    code, message = error(refused)
    assert code == "TOOMANYREQUESTS"
    assert "limit per user" in message

    bob = [session_path(start_session(server, BOB)) for _ in range(2)]
    full = start_session(server, BOB)
    assert full.status == 429
    assert "this repository" in error(full)[1]

    # A cancelled session and a finished one no longer count.
    cancelled = call(f"{server.url}{alice[0]}", method="DELETE", headers=basic(*ALICE))
    assert cancelled.status == 204
    again = session_path(start_session(server, ALICE))
    blob = b"a small layer"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    finished = call(
        f"{server.url}{bob[0]}?digest={digest}",
        method="PUT",
        data=blob,
        headers={**basic(*BOB), "Content-Type": "application/octet-stream"},
    )
    assert finished.status == 201, finished.body
    session_path(start_session(server, BOB))
    assert start_session(server, BOB).status == 429
    assert again


def wait_until_expired(
    server: CargoholdServer, path: str, who: tuple[str, str], deadline_s: float = 30.0
) -> Reply:
    """Poll the session's status until it answers 404 (bounded)."""
    give_up = time.monotonic() + deadline_s
    while True:
        status = call(f"{server.url}{path}", headers=basic(*who))
        if status.status != 204 or time.monotonic() > give_up:
            return status
        time.sleep(0.2)


def test_an_idle_session_expires_and_stops_counting(
    cargohold_factory: CargoholdFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    """skopeo meets the cap (two idle sessions of the same user are open), is answered 429 and backs off as
    containers/image does; once the idle sessions expire, its push goes through."""
    server = cargohold_factory(
        LOCAL,
        extra_config={
            "uploads": {"max_sessions_per_user": 2},
            "gc": {"interval_seconds": 0, "upload_max_idle_seconds": 3},
        },
    )
    with_users(server)
    image = write_image(tmp_path / "image", tag="1.0", layer_sizes=(4096, 100_000), seed=7)
    target = f"docker://{server.host}/local/app:1.0"
    push = ("copy", *NO_TLS, "--dest-creds", ":".join(ALICE))

    first = session_path(start_session(server, ALICE))
    chunk = call(
        f"{server.url}{first}",
        method="PATCH",
        data=b"x" * 1000,
        headers={**basic(*ALICE), "Content-Type": "application/octet-stream"},
    )
    assert chunk.status == 202, chunk.body
    session_path(start_session(server, ALICE))

    container_tools.skopeo(*push, f"oci:{image.reference}", target)
    assert log_lines(server, "you have 2 upload sessions open, the limit per user"), "the cap held it back"
    pulled = call(
        f"{server.url}/v2/local/app/manifests/1.0",
        headers={**basic(*ALICE), "Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert pulled.status == 200

    expired = wait_until_expired(server, first, ALICE)
    assert expired.status == 404
    code, message = error(expired)
    assert code == "BLOB_UPLOAD_UNKNOWN"
    assert "expired" in message
    late = call(
        f"{server.url}{first}",
        method="PATCH",
        data=b"y" * 10,
        headers={**basic(*ALICE), "Content-Type": "application/octet-stream"},
    )
    assert late.status == 404
    assert error(late)[0] == "BLOB_UPLOAD_UNKNOWN"
