"""``cargohold repo …`` and ``cargohold proxy …`` as a user runs them: the installed console script in a
subprocess, signed in with ``cargohold login`` as ``admin``, talking to a real ``cargohold serve`` (and, for
``proxy test``, a real CNCF Distribution upstream) over HTTP. What the CLI shows is checked against what
``/api/v1`` itself answers, read here with urllib. A small in-test HTTP server stands in for a server only
where the real one cannot show the behaviour: the credentials the CLI sends (a token from the environment or
the one ``login`` stored), and an answer that is not the management API.
"""

from __future__ import annotations

import base64
import json
import os
import select
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.processes import free_port
from tests.support.server import ADMIN_PASSWORD, CargoholdServer

CARGOHOLD = Path(sys.executable).with_name("cargohold")
SECRET = "pr0xy-s3cret-never-shown"
OTHER_SECRET = "an0ther-s3cret-never-shown"


def run(
    *args: str, server: str | None = None, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``cargohold ARGS`` with ``CARGOHOLD_SERVER=server`` and nothing else of CARGOHOLD_* inherited."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CARGOHOLD_")}
    clean.update(COLUMNS="200", NO_COLOR="1", **env)
    if server is not None:
        clean["CARGOHOLD_SERVER"] = server
    return subprocess.run(
        [str(CARGOHOLD), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )


def ok(*args: str, server: str, stdin: str | None = None) -> str:
    """Run a command that must succeed; its stdout."""
    result = run(*args, server=server, stdin=stdin)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stderr == ""
    return result.stdout


def ok_json(*args: str, server: str, stdin: str | None = None) -> Any:
    """Run a command with ``--json`` that must succeed; its decoded stdout."""
    return json.loads(ok(*args, "--json", server=server, stdin=stdin))


ADMIN_BASIC = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()


def api(server: CargoholdServer, path: str) -> tuple[int, Any]:
    """GET ``/api/v1/PATH`` directly as ``admin``: status and decoded JSON."""
    request = urllib.request.Request(f"{server.url}/api/v1/{path}", headers={"Authorization": ADMIN_BASIC})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def table_rows(stdout: str, first_cell: str) -> list[list[str]]:
    """The rows of a Rich table whose first cell is ``first_cell``, split on the column separator."""
    rows = []
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if cells and cells[0] == first_cell:
            rows.append(cells)
    return rows


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every command of a test reads and writes its stored logins under the test's own config directory."""
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    """A server whose config file declares repository ``test`` (the tests create the others), with the
    commands of the test signed in to it as ``admin`` (``cargohold login``)."""
    started = cargohold_factory()
    signed_in = run(
        "login", "--username", "admin", "--password-stdin", server=started.url, stdin=ADMIN_PASSWORD
    )
    assert signed_in.returncode == 0, signed_in.stderr
    return started


def test_the_cache_policy_and_storage_through_the_cli(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "cache", "--max-cached", "100MiB", "--evict-unused-after", "30",
       "--pin", "library/alpine:3.*", "--pin", "tools", server=url)  # fmt: skip
    status, document = api(server, "repositories/cache")
    assert status == 200
    assert (document["max_cached_bytes"], document["evict_unused_after_days"], document["pins"]) == (
        100 << 20, 30, ["library/alpine:3.*", "tools"],
    )  # fmt: skip
    shown = ok("repo", "show", "cache", server=url)
    assert "cache quota 100.0 MiB" in shown
    assert "evict after 30 days unused" in shown
    assert "pins        library/alpine:3.*, tools" in shown
    assert "storage     0 B: 0 B local (pushed), 0 B cached" in shown
    assert "counts once" in shown

    ok("repo", "edit", "cache", "--max-cached", "0", "--no-pins", server=url)
    status, document = api(server, "repositories/cache")
    assert (document["max_cached_bytes"], document["evict_unused_after_days"], document["pins"]) == (
        0,
        30,
        [],
    )
    refused = run("repo", "edit", "cache", "--max-cached", "lots", server=url)
    assert refused.returncode != 0
    assert "max_cached_bytes" in refused.stderr

    breakdown = ok_json("repo", "storage", "cache", server=url)
    assert breakdown["storage"]["total_bytes"] == 0
    assert breakdown["biggest_images"] == []
    assert "least recently pulled" in ok("repo", "storage", "cache", server=url)


def test_repository_lifecycle(server: CargoholdServer) -> None:
    url = server.url
    out = ok(
        "repo", "create", "team", "--private", "--host", "docker.example.com", "--tag-ttl", "60", server=url
    )
    assert "Created repository team." in out

    listing = ok("repo", "list", server=url)
    assert table_rows(listing, "team") == [
        ["team", "private", "", "docker.example.com", "60 s", "0", "api", "0 B"]
    ]
    assert table_rows(listing, "test")[0][-2] == "config file"

    shown = ok("repo", "show", "team", server=url)
    assert "visibility  private" in shown
    assert "hosts       docker.example.com" in shown
    assert "No proxies: local content only." in shown

    out = ok("repo", "edit", "team", "--public", "--default", "--no-hosts", "--tag-ttl", "120", server=url)
    assert "Updated repository team." in out
    status, document = api(server, "repositories/team")
    assert status == 200
    assert (document["visibility"], document["default"], document["hosts"], document["tag_ttl_seconds"]) == (
        "public", True, [], 120,
    )  # fmt: skip

    refused = run("repo", "delete", "team", server=url, stdin="n\n")
    assert refused.returncode == 1
    assert "Delete repository 'team'" in refused.stderr
    assert api(server, "repositories/team")[0] == 200

    confirmed = run("repo", "delete", "team", server=url, stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "Deleted repository team." in confirmed.stdout
    assert api(server, "repositories/team")[0] == 404

    ok("repo", "create", "gone", server=url)
    assert "Deleted repository gone." in ok("repo", "delete", "gone", "--yes", server=url)
    assert [r["name"] for r in ok_json("repo", "list", server=url)] == ["test"]


def test_json_output_is_the_api_json(server: CargoholdServer) -> None:
    url = server.url
    created = ok_json("repo", "create", "mirror", "--host", "quay.io", server=url)
    assert created == api(server, "repositories/mirror")[1]
    added = ok_json("proxy", "add", "mirror", "quay", "https://quay.io", "--timeout", "2500", server=url)
    assert added == api(server, "repositories/mirror/proxies/quay")[1]

    for args, path in (
        (("repo", "list"), "repositories"),
        (("repo", "show", "mirror"), "repositories/mirror"),
        (("repo", "images", "mirror"), "repositories/mirror/images"),
        (("repo", "stats", "mirror"), "repositories/mirror/stats"),
        (("proxy", "list", "mirror"), "repositories/mirror/proxies"),
    ):
        assert ok_json(*args, server=url) == api(server, path)[1], args

    assert ok_json("repo", "images", "mirror", server=url) == []
    stats = ok_json("repo", "stats", "mirror", server=url)
    assert stats["repository"] == "mirror"
    assert [p["proxy"] for p in stats["proxies"]] == ["quay"]
    assert ok_json("repo", "purge", "mirror", server=url) == {"manifests": 0, "tags": 0, "blobs": 0}
    assert ok_json("repo", "purge", "mirror", "--proxy", "quay", server=url) == {
        "manifests": 0, "tags": 0, "blobs": 0,
    }  # fmt: skip
    assert "Purged cached content of repository mirror, proxy quay: 0 manifests" in ok(
        "repo", "purge", "mirror", "--proxy", "quay", server=url
    )
    assert "No images." in ok("repo", "images", "mirror", server=url)
    human_stats = ok("repo", "stats", "mirror", server=url)
    assert "requests" in human_stats
    assert table_rows(human_stats, "quay")


def test_proxy_add_edit_and_passwords_are_never_shown(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "corp", server=url)
    outputs: list[str] = []

    def cli(*args: str, stdin: str | None = None) -> str:
        result = run(*args, server=url, stdin=stdin)
        outputs.extend((result.stdout, result.stderr))
        assert result.returncode == 0, result.stderr
        return result.stdout

    added = cli(
        "proxy", "add", "corp", "company", "https://docker.example.com", "--username", "robot",
        "--password-stdin", stdin=SECRET + "\n",
    )  # fmt: skip
    assert "Added proxy company (priority 1)." in added
    listed = json.loads(cli("proxy", "list", "corp", "--json"))
    assert listed == [
        {
            "name": "company", "url": "https://docker.example.com", "username": "robot", "password_set": True,
            "ssl_validation": True, "connection_timeout_ms": 5000, "active": True, "priority": 1,
            "include": [], "exclude": [], "private_networks_approved": True, "answer_timeout_ms": 5000,
        }
    ]  # fmt: skip
    assert "password" not in listed[0]
    row = table_rows(cli("proxy", "list", "corp"), "1")
    expected = ["1", "company", "https://docker.example.com", "robot", "set", "on", "5000 ms", "5000 ms"]
    assert row == [[*expected, "yes", "all"]]

    cli(
        "proxy",
        "edit",
        "corp",
        "company",
        "--no-ssl-validation",
        "--timeout",
        "2500",
        "--answer-timeout",
        "1500",
        "--url",
        "https://r.example.com",
    )
    edited = json.loads(cli("proxy", "list", "corp", "--json"))[0]
    assert (
        edited["ssl_validation"], edited["connection_timeout_ms"], edited["answer_timeout_ms"], edited["url"]
    ) == (False, 2500, 1500, "https://r.example.com")  # fmt: skip
    assert edited["password_set"] is True  # an edit without a password keeps it

    ruled = json.loads(
        cli("proxy", "update", "corp", "company", "--include", "corp/**", "--include", "base/*",
            "--exclude", "corp/legacy", "--json")
    )  # fmt: skip
    assert (ruled["include"], ruled["exclude"]) == (["corp/**", "base/*"], ["corp/legacy"])
    assert table_rows(cli("proxy", "list", "corp"), "1")[0][-1] == "corp/**, base/* except corp/legacy"
    refused = run("proxy", "edit", "corp", "company", "--include", "Corp/*", server=url)
    assert refused.returncode != 0
    assert "include" in refused.stderr
    cleared_rules = json.loads(cli("proxy", "edit", "corp", "company", "--clear-rules", "--json"))
    assert (cleared_rules["include"], cleared_rules["exclude"]) == ([], [])

    cli("proxy", "edit", "corp", "company", "--password-stdin", stdin=OTHER_SECRET + "\n")
    assert json.loads(cli("proxy", "list", "corp", "--json"))[0]["password_set"] is True
    cleared = json.loads(cli("proxy", "edit", "corp", "company", "--clear-password", "--json"))
    assert cleared["password_set"] is False
    renamed = cli(
        "proxy", "edit", "corp", "company", "--name", "corp-mirror", "--password-stdin", stdin=SECRET
    )
    assert "Updated proxy corp-mirror" in renamed
    assert table_rows(cli("proxy", "list", "corp"), "1")[0][1:5] == [
        "corp-mirror", "https://r.example.com", "robot", "set",
    ]  # fmt: skip

    cli("repo", "show", "corp")
    cli("repo", "show", "corp", "--json")
    cli("repo", "list", "--json")
    for text in outputs:
        assert SECRET not in text
        assert OTHER_SECRET not in text


def _read_until(fd: int, transcript: bytearray, marker: bytes | None, deadline: float) -> None:
    """Read the terminal's output into ``transcript`` until it shows ``marker`` (None: until it is closed)."""
    while (marker is None or marker not in transcript) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                transcript += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                return


def test_password_prompt_hides_the_input(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "corp", server=url)
    master, slave = os.openpty()  # a terminal: the prompt turns echo off on it
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CARGOHOLD_")}
    process = subprocess.Popen(
        [str(CARGOHOLD), "proxy", "add", "corp", "typed", "https://t.example.com", "--password-prompt"],
        stdin=slave, stdout=subprocess.PIPE, stderr=slave, env={**env, "CARGOHOLD_SERVER": url},
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    transcript = bytearray()
    deadline = time.monotonic() + 60
    try:
        _read_until(master, transcript, b"Password:", deadline)
        os.write(master, SECRET.encode() + b"\n")
        _read_until(master, transcript, b"confirmation:", deadline)
        os.write(master, SECRET.encode() + b"\n")
        stdout, _ = process.communicate(timeout=60)
        _read_until(master, transcript, None, deadline)  # whatever the terminal showed after the 2nd entry
    finally:
        os.close(master)
    assert process.returncode == 0, transcript
    assert b"Password:" in transcript
    assert SECRET.encode() not in transcript + stdout
    assert ok_json("proxy", "list", "corp", server=url)[0]["password_set"] is True


def test_password_usage_errors(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "corp", server=url)
    for args, stdin in (
        (("proxy", "add", "corp", "p", "https://a.example.com", "--password", SECRET), None),
        (
            ("proxy", "add", "corp", "p", "https://a.example.com", "--password-stdin", "--password-prompt"),
            SECRET,
        ),
        (("proxy", "add", "corp", "p", "https://a.example.com", "--password-stdin"), ""),
        (("proxy", "edit", "corp", "p", "--password-stdin", "--clear-password"), SECRET),
        (("proxy", "edit", "corp", "p"), None),
        (("repo", "edit", "corp"), None),
        (("repo", "edit", "corp", "--host", "a.example.com", "--no-hosts"), None),
        (("proxy", "move", "corp", "p", "first"), None),
    ):
        result = run(*args, server=url, stdin=stdin)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert SECRET not in result.stdout + result.stderr
    assert ok_json("proxy", "list", "corp", server=url) == []


def test_a_public_repository_whose_proxy_has_credentials_is_warned_about(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "open", server=url)  # public unless --private
    quiet = run("proxy", "add", "open", "anon", "https://anon.example.com", server=url)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    added = run(
        "proxy", "add", "open", "company", "https://docker.example.com", "--username", "robot",
        "--password-stdin", server=url, stdin=SECRET + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "warning: Repository open is public and its proxy company has credentials" in added.stderr
    shown = ok("repo", "show", "open", server=url)
    assert "warning: Repository open is public and its proxy company has credentials" in shown
    status, resource = api(server, "repositories/open")
    assert status == 200
    assert len(resource["warnings"]) == 1
    assert "proxy company has credentials" in resource["warnings"][0]
    assert SECRET not in shown + added.stdout + added.stderr + json.dumps(resource)

    ok("repo", "edit", "open", "--private", server=url)
    assert "warning" not in ok("repo", "show", "open", server=url)
    assert api(server, "repositories/open")[1]["warnings"] == []


def test_if_match_keeps_a_script_from_overwriting_a_change_it_did_not_see(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "corp", server=url)
    ok("proxy", "add", "corp", "a", "https://a.example", server=url)
    ok("proxy", "add", "corp", "b", "https://b.example", server=url)
    shown = ok("repo", "show", "corp", server=url)
    etag = next(line.split()[1] for line in shown.splitlines() if line.split()[:1] == ["etag"])
    ok("proxy", "move", "corp", "b", "1", server=url)  # someone else, meanwhile

    stale = run("proxy", "move", "corp", "a", "1", "--if-match", etag, server=url)
    assert stale.returncode == 1
    assert "changed since" in stale.stderr
    assert [p["name"] for p in ok_json("proxy", "list", "corp", server=url)] == ["b", "a"]
    refused = run("proxy", "edit", "corp", "a", "--timeout", "100", "--if-match", etag, server=url)
    assert refused.returncode == 1
    assert ok_json("repo", "show", "corp", server=url)["proxies"][1]["connection_timeout_ms"] == 5000

    current = next(
        line.split()[1] for line in ok("repo", "show", "corp", server=url).splitlines()
        if line.split()[:1] == ["etag"]
    )  # fmt: skip
    assert current != etag
    ok("proxy", "move", "corp", "a", "1", "--if-match", current, server=url)
    assert [p["name"] for p in ok_json("proxy", "list", "corp", server=url)] == ["a", "b"]


def test_proxy_order_and_activity(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "hub", server=url)
    for name in ("alpha", "beta", "gamma"):
        ok("proxy", "add", "hub", name, f"https://{name}.example.com", server=url)
    inserted = ok_json(
        "proxy", "add", "hub", "zeta", "https://zeta.example.com", "--position", "2", server=url
    )
    assert inserted["priority"] == 2

    def order() -> list[tuple[int, str]]:
        return [(p["priority"], p["name"]) for p in ok_json("proxy", "list", "hub", server=url)]

    assert order() == [(1, "alpha"), (2, "zeta"), (3, "beta"), (4, "gamma")]

    moved = ok("proxy", "move", "hub", "gamma", "1", server=url)
    assert "Moved proxy gamma to position 1." in moved
    assert [row[1] for row in table_rows(moved, "1") + table_rows(moved, "2")] == ["gamma", "alpha"]
    assert order() == [(1, "gamma"), (2, "alpha"), (3, "zeta"), (4, "beta")]
    moved_json = ok_json("proxy", "move", "hub", "gamma", "4", server=url)
    assert [p["name"] for p in moved_json] == ["alpha", "zeta", "beta", "gamma"]

    assert "Disabled proxy zeta" in ok("proxy", "disable", "hub", "zeta", server=url)
    assert table_rows(ok("proxy", "list", "hub", server=url), "2")[0][-2] == "no"
    assert ok_json("proxy", "enable", "hub", "zeta", server=url)["active"] is True
    assert ok_json("proxy", "disable", "hub", "zeta", server=url)["active"] is False
    assert "Enabled proxy zeta" in ok("proxy", "enable", "hub", "zeta", server=url)

    assert "Removed proxy zeta from repository hub." in ok("proxy", "remove", "hub", "zeta", server=url)
    assert order() == [(1, "alpha"), (2, "beta"), (3, "gamma")]
    beyond = run("proxy", "move", "hub", "alpha", "9", server=url)
    assert beyond.returncode == 1
    assert beyond.stderr.startswith("cargohold: ")
    assert beyond.stderr.count("\n") == 1
    assert order() == [(1, "alpha"), (2, "beta"), (3, "gamma")]


def test_proxy_test_against_distribution(
    server: CargoholdServer, distribution_factory: DistributionFactory
) -> None:
    upstream = distribution_factory()
    url = server.url
    ok("repo", "create", "dist", server=url)
    ok("proxy", "add", "dist", "upstream", upstream.url, server=url)

    out = ok("proxy", "test", "dist", "upstream", server=url)
    steps = [line.split() for line in out.splitlines() if line.strip()[:1] in ("✓", "✗")]
    assert len(steps) >= 3, out  # one line per step, then the verdict
    assert {line[0] for line in steps} == {"✓"}
    assert {"resolve+connect", "ping"} <= {line[1] for line in steps}
    assert all(line[-1] == "ms" for line in steps)
    assert "all steps passed" in out

    result = ok_json("proxy", "test", "dist", "upstream", server=url)
    assert result["ok"] is True
    assert all(step["ok"] for step in result["steps"])


def test_proxy_test_against_a_closed_port_fails(server: CargoholdServer) -> None:
    url = server.url
    ok("repo", "create", "dist", server=url)
    ok("proxy", "add", "dist", "nowhere", f"http://127.0.0.1:{free_port()}", "--timeout", "2000", server=url)

    result = run("proxy", "test", "dist", "nowhere", server=url)
    assert result.returncode == 1
    failed = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("✗")]
    assert failed[0][1] == "resolve+connect"
    assert failed[0][-1] == "ms"
    assert "test failed" in result.stdout
    assert result.stderr.startswith("cargohold: proxy nowhere failed the test at step resolve+connect")
    assert result.stderr.count("\n") == 1

    as_json = run("proxy", "test", "dist", "nowhere", "--json", server=url)
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    assert document["steps"][0]["name"] == "resolve+connect"
    assert document["steps"][0]["ok"] is False


def test_api_errors_are_one_line_with_the_api_message(server: CargoholdServer) -> None:
    url = server.url
    status, document = api(server, "repositories/nope")
    assert status == 404
    for args in (("repo", "show", "nope"), ("proxy", "list", "nope"), ("repo", "delete", "nope", "--yes")):
        result = run(*args, server=url)
        assert result.returncode == 1, args
        assert result.stdout == ""
        assert result.stderr == f"cargohold: {document['error']['message']}\n"

    ok("repo", "create", "corp", server=url)
    unknown_proxy = run("proxy", "enable", "corp", "ghost", server=url)
    assert unknown_proxy.returncode == 1
    assert unknown_proxy.stderr.startswith("cargohold: ")
    assert "ghost" in unknown_proxy.stderr

    bad_url = run("proxy", "add", "corp", "bad", "ftp://x.example.com", server=url)
    assert bad_url.returncode == 1
    assert bad_url.stderr.startswith("cargohold: ")
    assert "url" in bad_url.stderr
    assert bad_url.stderr.count("\n") == 1
    negative = run("repo", "edit", "corp", "--tag-ttl", "-5", server=url)
    assert negative.returncode == 1
    assert "tag_ttl_seconds" in negative.stderr

    duplicate = run("repo", "create", "corp", server=url)
    assert duplicate.returncode == 1
    assert duplicate.stderr.startswith("cargohold: ")

    managed = run("repo", "edit", "test", "--private", server=url)  # declared in the config file
    assert managed.returncode == 1
    assert managed.stderr.startswith("cargohold: ")
    assert managed.stderr.count("\n") == 1
    assert api(server, "repositories/test")[1]["visibility"] == "public"
    for result in (unknown_proxy, bad_url, negative, duplicate, managed):
        assert "Traceback" not in result.stderr


def test_server_not_running() -> None:
    port = free_port()
    result = run("repo", "list", server=f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"cargohold: cannot reach the server at http://127.0.0.1:{port}: ")
    assert "connection refused" in result.stderr
    assert result.stderr.count("\n") == 1

    flag = run("proxy", "list", "hub", "--server", f"http://127.0.0.1:{port}", server="http://127.0.0.1:1")
    assert flag.returncode == 1
    assert f"127.0.0.1:{port}" in flag.stderr  # --server wins over CARGOHOLD_SERVER

    bad = run("repo", "list", "--server", "127.0.0.1:5000")
    assert bad.returncode == 2
    assert "is not an http:// or https:// URL" in bad.stderr


class _Recorder(BaseHTTPRequestHandler):
    """Answers like a server: JSON ``[]`` for the repository list, a new token's secret for a token POST,
    204 for a DELETE, an HTML page for anything else. Records method, path and headers of every request."""

    seen: list[dict[str, str]]

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        type(self).seen.append({"method": self.command, "path": self.path, **dict(self.headers.items())})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/api/v1/repositories":
            self._answer(200, b"[]", "application/json")
        else:
            self._answer(200, b"<html>hello</html>", "text/html")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/api/v1/users/alice/tokens":
            self._answer(201, json.dumps({"name": "cli", "secret": FAKE_SECRET}).encode(), "application/json")
        else:
            self._answer(404, b"{}", "application/json")

    def do_DELETE(self) -> None:
        self._answer(204, b"", "application/json")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


FAKE_SECRET = "cgh_" + "s" * 43


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A tiny HTTP server that records requests: ``(url, seen)``."""
    seen: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_token_is_sent_as_bearer(recorder: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = recorder
    assert "No repositories." in run("repo", "list", server=url, CARGOHOLD_TOKEN="tok-123").stdout
    assert seen[-1].get("Authorization") == "Bearer tok-123"
    assert run("repo", "list", server=url).returncode == 0
    assert "Authorization" not in seen[-1]


def test_login_stores_only_the_token_and_later_commands_send_it(
    recorder: tuple[str, list[dict[str, str]]], config_home: Path
) -> None:
    url, seen = recorder
    signed_in = run("login", "--username", "alice", "--password-stdin", server=url, stdin="pw-alice\n")
    assert signed_in.returncode == 0, signed_in.stderr
    assert seen[-1]["method"] == "POST"
    assert seen[-1]["Authorization"] == "Basic " + base64.b64encode(b"alice:pw-alice").decode()
    file = config_home / "cargohold" / "credentials.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert "pw-alice" not in file.read_text()
    assert json.loads(file.read_text())["servers"][url]["token"] == FAKE_SECRET
    assert FAKE_SECRET not in signed_in.stdout + signed_in.stderr

    assert run("repo", "list", server=url).returncode == 0
    assert seen[-1]["Authorization"] == f"Bearer {FAKE_SECRET}"
    assert run("repo", "list", server=url, CARGOHOLD_TOKEN="tok-env").returncode == 0
    assert seen[-1]["Authorization"] == "Bearer tok-env"  # the environment wins over the stored login

    signed_out = run("logout", server=url)
    assert signed_out.returncode == 0, signed_out.stderr
    assert seen[-1]["method"] == "DELETE"
    assert seen[-1]["Authorization"] == f"Bearer {FAKE_SECRET}"
    assert json.loads(file.read_text())["servers"] == {}
    assert run("repo", "list", server=url).returncode == 0
    assert "Authorization" not in seen[-1]


def test_an_answer_that_is_not_the_api_is_an_error(recorder: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = recorder
    result = run("repo", "show", "hub", server=url)
    assert result.returncode == 1
    assert result.stderr.startswith("cargohold: GET /api/v1/repositories/hub answered 200 with text/html")
    assert result.stderr.count("\n") == 1
