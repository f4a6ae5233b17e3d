"""Real clients against a cargohold with a public and a private repository: ``podman login`` then push and
pull, ``skopeo --creds`` with right, wrong and missing credentials, and access tokens used as passwords
(working, revoked, expired).

Users, grants and tokens are made through the running server's /api/v1 as its admin (``Accounts``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.accounts import Accounts
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory
from tests.support.images import Image, write_image
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

NO_TLS = ("--src-tls-verify=false", "--dest-tls-verify=false")
REPOSITORIES = [
    {"name": "public", "visibility": "public"},
    {"name": "private", "visibility": "private"},
]
WRITER, WRITER_PASSWORD = "writer", "writer-password-1"
READER, READER_PASSWORD = "reader", "reader-password-1"
STRANGER, STRANGER_PASSWORD = "stranger", "stranger-password-1"


@pytest.fixture
def server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    server = cargohold_factory(REPOSITORIES)
    accounts = Accounts(server)
    accounts.create_user(WRITER, WRITER_PASSWORD, grants={"private": "write", "public": "write"})
    accounts.create_user(READER, READER_PASSWORD, grants={"private": "read"})
    accounts.create_user(STRANGER, STRANGER_PASSWORD)
    return server


def _push(tools: ContainerTools, image: Image, dest: str, *creds: str, check: bool = True) -> int:
    result = tools.skopeo("copy", *NO_TLS, *creds, f"oci:{image.reference}", dest, check=check)
    return result.returncode


def _pull(tools: ContainerTools, ref: str, out: Path, *creds: str) -> tuple[int, str]:
    result = tools.skopeo("copy", *NO_TLS, *creds, ref, f"dir:{out}", check=False)
    return result.returncode, result.stderr


def test_podman_login_push_and_pull_of_a_private_repository(
    server: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(4096, 300_000), seed=31)
    name = server.ref("private", "team/app", "1.0")
    container_tools.load_layout(image.reference, name)

    refused = container_tools.podman(
        "login", "--tls-verify=false", "-u", WRITER, "-p", "not-the-password", server.host, check=False
    )
    assert refused.returncode != 0
    assert container_tools.podman("push", "--tls-verify=false", name, check=False).returncode != 0

    container_tools.podman("login", "--tls-verify=false", "-u", WRITER, "-p", WRITER_PASSWORD, server.host)
    digest_file = tmp_path / "pushed.digest"
    container_tools.podman("push", "--tls-verify=false", "--digestfile", str(digest_file), name)
    container_tools.podman("rmi", "--all")
    container_tools.podman("pull", "--tls-verify=false", name)
    assert container_tools.podman_inspect(name)["Digest"] == digest_file.read_text().strip()

    container_tools.podman("logout", server.host)
    container_tools.podman("rmi", "--all")
    anonymous = container_tools.podman("pull", "--tls-verify=false", name, check=False)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "authentication required" in anonymous.stderr.lower()

    container_tools.podman("login", "--tls-verify=false", "-u", READER, "-p", READER_PASSWORD, server.host)
    container_tools.podman("pull", "--tls-verify=false", name)
    container_tools.podman("tag", name, server.ref("private", "team/app", "2.0"))
    denied = container_tools.podman(
        "push", "--tls-verify=false", server.ref("private", "team/app", "2.0"), check=False
    )
    assert denied.returncode != 0


def test_skopeo_with_right_wrong_and_missing_credentials(
    server: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    image = write_image(tmp_path / "layout", tag="1.0", seed=32)
    private = server.docker_ref("private", "app", "1.0")
    public = server.docker_ref("public", "app", "1.0")
    writer = ("--dest-creds", f"{WRITER}:{WRITER_PASSWORD}")

    assert _push(container_tools, image, private, check=False) != 0  # no credentials
    assert _push(container_tools, image, public, check=False) != 0  # public is for pulling, not pushing
    assert _push(container_tools, image, private, "--dest-creds", f"{WRITER}:wrong", check=False) != 0
    assert _push(container_tools, image, private, "--dest-creds", f"{READER}:{READER_PASSWORD}", check=False)
    assert _push(container_tools, image, private, *writer) == 0
    assert _push(container_tools, image, public, *writer) == 0

    # public: anyone pulls, wrong credentials are still wrong
    assert _pull(container_tools, public, tmp_path / "p1")[0] == 0
    assert (
        _pull(container_tools, public, tmp_path / "p2", "--src-creds", f"{READER}:{READER_PASSWORD}")[0] == 0
    )
    assert _pull(container_tools, public, tmp_path / "p3", "--src-creds", f"{READER}:wrong")[0] != 0
    # private: only with a read grant
    status, stderr = _pull(container_tools, private, tmp_path / "q1")
    assert status != 0
    assert "unauthorized" in stderr.lower() or "authentication required" in stderr.lower(), stderr
    assert _pull(container_tools, private, tmp_path / "q2", "--src-creds", f"{READER}:wrong")[0] != 0
    status, stderr = _pull(
        container_tools, private, tmp_path / "q3", "--src-creds", f"{STRANGER}:{STRANGER_PASSWORD}"
    )
    assert status != 0
    assert (
        _pull(container_tools, private, tmp_path / "q4", "--src-creds", f"{READER}:{READER_PASSWORD}")[0] == 0
    )
    inspected = container_tools.skopeo(
        "inspect", "--tls-verify=false", "--creds", f"{READER}:{READER_PASSWORD}", private
    )
    assert image.digest in inspected.stdout


def test_access_tokens_work_as_passwords_until_revoked_or_expired(
    server: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    accounts = Accounts(server)
    image = write_image(tmp_path / "layout", tag="1.0", seed=33)
    private = server.docker_ref("private", "tokens", "1.0")
    token = accounts.create_token(WRITER, "ci")
    expires_at = datetime.now(UTC) + timedelta(seconds=3)
    short_lived = accounts.create_token(READER, "short", expires_at=expires_at)

    assert _push(container_tools, image, private, "--dest-creds", f"{WRITER}:{token}") == 0
    assert _pull(container_tools, private, tmp_path / "a", "--src-creds", f"{READER}:{short_lived}")[0] == 0
    assert _pull(container_tools, private, tmp_path / "b", "--src-creds", f"{WRITER}:{token}")[0] == 0

    accounts.revoke_token(WRITER, "ci")
    assert _pull(container_tools, private, tmp_path / "c", "--src-creds", f"{WRITER}:{token}")[0] != 0
    assert _push(container_tools, image, private, "--dest-creds", f"{WRITER}:{token}", check=False) != 0

    while datetime.now(UTC) <= expires_at:  # waiting for the wall clock, not for the server
        time.sleep(expires_at.timestamp() - time.time() + 0.05)
    assert _pull(container_tools, private, tmp_path / "d", "--src-creds", f"{READER}:{short_lived}")[0] != 0
    assert (
        _pull(container_tools, private, tmp_path / "e", "--src-creds", f"{READER}:{READER_PASSWORD}")[0] == 0
    )
