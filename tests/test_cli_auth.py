"""``cargohold login``, ``logout``, ``user …`` and ``token …`` as a user runs them: the installed console
script against a real ``cargohold serve``. Checks what a user (and an auditor) would: the stored credentials
file is private and holds a token, never the password; users, grants and tokens change on the server as the
commands say; a revoked token stops working; and no password or token secret is ever printed, except the
one line ``token create`` prints.
"""

from __future__ import annotations

import json
import socket
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.fixtures import CargoholdFactory
from tests.support.server import ADMIN_PASSWORD, CargoholdServer
from tests.test_cli_management import api, run, table_rows

BOB_PASSWORD = "b0b-first-passw0rd"
BOB_NEW_PASSWORD = "b0b-second-passw0rd"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands of a test keep their stored logins under the test's own config directory."""
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    return cargohold_factory(
        [
            {"name": "test", "visibility": "public", "proxies": []},
            {"name": "vault", "visibility": "private", "proxies": []},
        ]
    )


def me(server: CargoholdServer, token: str) -> int:
    """The status ``GET /api/v1/me`` answers with ``token`` as a Bearer token."""
    request = urllib.request.Request(  # noqa: S310 - the test builds the URL
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


class Transcript:
    """Runs commands against one server and keeps everything they printed."""

    def __init__(self, server: CargoholdServer) -> None:
        self.url = server.url
        self.printed: list[str] = []

    def run(self, *args: str, stdin: str | None = None, code: int = 0, **env: str) -> str:
        result = run(*args, server=self.url, stdin=stdin, **env)
        self.printed += [result.stdout, result.stderr]
        assert result.returncode == code, (
            f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        assert "Traceback" not in result.stderr
        return result.stdout if code == 0 else result.stderr


def test_login_stores_a_private_token_and_logout_revokes_it(
    server: CargoholdServer, config_home: Path
) -> None:
    cli = Transcript(server)
    wrong = cli.run("login", "-u", "admin", "--password-stdin", stdin="not-the-password\n", code=1)
    assert wrong.startswith("cargohold: ")
    assert wrong.count("\n") == 1
    file = config_home / "cargohold" / "credentials.json"
    assert not file.exists()
    not_signed_in = cli.run("token", "list", code=1)
    assert "cargohold login" in not_signed_in

    out = cli.run("login", "--username", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert out.startswith(f"Signed in to {server.url} as admin")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    stored = json.loads(file.read_text())["servers"][server.url]
    assert stored["username"] == "admin"
    assert stored["token"].startswith("cgh_")
    assert ADMIN_PASSWORD not in file.read_text()
    assert stored["token"] not in out
    assert me(server, stored["token"]) == 200
    assert table_rows(cli.run("repo", "list"), "test")

    listed = cli.run("token", "list")
    assert table_rows(listed, stored["token_name"])[0][-1] == "active"

    again = cli.run("login", "-u", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert "Signed in" in again
    replaced = json.loads(file.read_text())["servers"][server.url]["token"]
    assert replaced != stored["token"]
    assert me(server, stored["token"]) == 401  # logging in again replaced this machine's token

    assert cli.run("logout") == f"Signed out of {server.url}.\n"
    assert json.loads(file.read_text())["servers"] == {}
    assert me(server, replaced) == 401
    assert "cargohold login" in cli.run("token", "list", code=1)
    assert cli.run("logout") == f"Not signed in to {server.url}.\n"

    for text in cli.printed:
        assert ADMIN_PASSWORD not in text
        assert stored["token"] not in text
        assert replaced not in text


def test_user_lifecycle_and_what_a_user_may_do(
    server: CargoholdServer, config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = Transcript(server)
    admin.run("login", "-u", "admin", "--password-stdin", stdin=ADMIN_PASSWORD)

    assert "Created user bob." in admin.run("user", "add", "bob", "--password-stdin", stdin=BOB_PASSWORD)
    users = admin.run("user", "list")
    assert table_rows(users, "admin")[0][1] == "yes"
    assert table_rows(users, "bob")[0][1:3] == ["", "-"]
    duplicate = admin.run("user", "add", "bob", "--password-stdin", stdin="x-" + BOB_PASSWORD, code=1)
    assert duplicate.startswith("cargohold: ")

    assert "bob may write vault" in admin.run("user", "grant", "bob", "vault", "write")
    assert table_rows(admin.run("user", "list"), "bob")[0][2] == "vault: write"
    as_json = json.loads(admin.run("user", "list", "--json"))
    assert next(u for u in as_json if u["name"] == "bob")["grants"] == {"vault": "write"}

    # bob signs in in his own config directory: he may use what he was granted, and nothing of admin's
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "bob-config"))
    bob = Transcript(server)
    bob.run("login", "-u", "bob", "--password-stdin", stdin=BOB_PASSWORD)
    assert bob.run("user", "list", code=1).startswith("cargohold: ")
    assert bob.run("repo", "create", "mine", code=1).startswith("cargohold: ")
    assert [t["name"] for t in json.loads(bob.run("token", "list", "--json"))] == ["cli-" + _host()]
    assert bob.run("token", "list", "--user", "admin", code=1).startswith("cargohold: ")

    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    assert "bob is an admin now" in admin.run("user", "admin", "bob", "on")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "bob-config"))
    assert table_rows(bob.run("user", "list"), "bob")  # an admin now, he may list users
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    assert "bob is no admin now" in admin.run("user", "admin", "bob", "off")
    assert "no permission on vault" in admin.run("user", "grant", "bob", "vault", "none")
    assert table_rows(admin.run("user", "list"), "bob")[0][1:3] == ["", "-"]

    assert "Changed the password of bob." in admin.run(
        "user", "passwd", "bob", "--password-stdin", stdin=BOB_NEW_PASSWORD
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "bob-again"))
    bob.run("login", "-u", "bob", "--password-stdin", stdin=BOB_PASSWORD, code=1)
    bob.run("login", "-u", "bob", "--password-stdin", stdin=BOB_NEW_PASSWORD)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))

    refused = admin.run("user", "remove", "bob", stdin="n\n", code=1)
    assert "Delete user 'bob'" in refused
    assert "Deleted user bob." in admin.run("user", "remove", "bob", "--yes")
    assert not table_rows(admin.run("user", "list"), "bob")
    assert api(server, "users/bob")[0] == 404
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "bob-again"))
    assert "cargohold login" in bob.run("repo", "list", code=1)  # his token went with him

    for text in admin.printed + bob.printed:
        for secret in (ADMIN_PASSWORD, BOB_PASSWORD, BOB_NEW_PASSWORD):
            assert secret not in text


def test_token_lifecycle_and_a_revoked_token_no_longer_works(server: CargoholdServer) -> None:
    cli = Transcript(server)
    cli.run("login", "-u", "admin", "--password-stdin", stdin=ADMIN_PASSWORD)

    result = run("token", "create", "ci", "--expires-in", "30", server=server.url)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"  # alone on stdout: TOKEN=$(cargohold token create ci) works
    assert secret.startswith("cgh_")
    assert len(secret) == 47
    assert "Created access token ci for admin" in result.stderr
    assert "not shown again" in result.stderr
    assert secret not in result.stderr

    listed = cli.run("token", "list")
    row = table_rows(listed, "ci")[0]
    assert row[-1] == "active"
    assert row[2] != "never"  # it expires
    as_json = json.loads(cli.run("token", "list", "--json"))
    assert {token["name"] for token in as_json} >= {"ci"}
    assert all("secret" not in token and "hash" not in json.dumps(token) for token in as_json)

    taken = cli.run("token", "create", "ci", code=1)
    assert taken.startswith("cargohold: ")

    # the token works on its own, through $CARGOHOLD_TOKEN (which wins over the stored login)
    assert me(server, secret) == 200
    assert table_rows(cli.run("repo", "list", CARGOHOLD_TOKEN=secret), "test")
    assert "Revoked access token ci of admin." in cli.run("token", "revoke", "ci")
    assert me(server, secret) == 401
    failed = cli.run("repo", "list", code=1, CARGOHOLD_TOKEN=secret)
    assert "CARGOHOLD_TOKEN" in failed
    after = [token for token in json.loads(cli.run("token", "list", "--json")) if token["name"] == "ci"]
    assert all(token["revoked"] for token in after)
    if after:
        assert table_rows(cli.run("token", "list"), "ci")[0][-1] == "revoked"
    assert cli.run("token", "revoke", "never-made", code=1).startswith("cargohold: ")

    for text in cli.printed:
        assert secret not in text
        assert ADMIN_PASSWORD not in text


def test_usage_errors_never_take_a_password_from_argv(server: CargoholdServer) -> None:
    for args, stdin in (
        (("login", "-u", "admin", "--password", ADMIN_PASSWORD), None),
        (("login", "-u", "admin", "--password-stdin"), ""),
        (("user", "add", "carol", "--password-stdin"), ""),
        (("user", "grant", "carol", "test", "owner"), None),
        (("user", "admin", "carol", "maybe"), None),
        (("token", "create", "x", "--expires-in", "0"), None),
    ):
        result = run(*args, server=server.url, stdin=stdin)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert ADMIN_PASSWORD not in result.stdout + result.stderr


def _host() -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname().lower()) or "host"


def test_the_server_of_the_last_login_is_the_default_of_the_next_commands(
    server: CargoholdServer, config_home: Path
) -> None:
    signed_in = run(
        "login", "--server", server.url, "-u", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n"
    )
    assert signed_in.returncode == 0, signed_in.stderr
    listed = run("repo", "list")  # no --server and no CARGOHOLD_SERVER
    assert listed.returncode == 0, listed.stderr
    assert table_rows(listed.stdout, "test")
    assert json.loads((config_home / "cargohold" / "credentials.json").read_text())["current"] == server.url
    assert run("logout").returncode == 0
    assert "current" not in json.loads((config_home / "cargohold" / "credentials.json").read_text())
