"""The first start of a server without ``CARGOHOLD_ADMIN_PASSWORD``: the generated ``admin`` password is
printed once to stderr (once, even with several worker processes), it works, and a restart prints nothing.
Without a configuration file the first start creates ``hub``, an ordinary repository the API manages.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.accounts import basic, call
from tests.support.server import cargohold_executable, start_cargohold, start_cargohold_bare

CREATED = re.compile(
    r'cargohold: created user "admin" with password (\S+) '
    r"\(shown once; change it with cargohold user passwd\)"
)


def test_generated_admin_password_is_printed_once_and_works(tmp_path: Path) -> None:
    repositories = [{"name": "test", "visibility": "public"}]
    first = start_cargohold(tmp_path, repositories, extra_args=["--workers", "2"], admin_password=None)
    try:
        assert call(f"{first.url}/v2/").status == 401
        printed = CREATED.findall(first.service.log_text())
        assert len(printed) == 1, first.service.describe()
        password = printed[0]
        for _ in range(4):  # whichever worker answers, the password is the same
            assert call(f"{first.url}/v2/", headers=basic("admin", password)).status == 200
    finally:
        assert first.stop() == 0, first.service.describe()
    assert (first.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600

    again = start_cargohold(tmp_path, repositories, admin_password=None)
    try:
        assert CREATED.findall(again.service.log_text()) == []
        assert password not in again.service.log_text()
        assert call(f"{again.url}/v2/", headers=basic("admin", password)).status == 200
    finally:
        again.stop()


def test_a_first_start_without_configuration_creates_hub_as_an_ordinary_repository(tmp_path: Path) -> None:
    server = start_cargohold_bare(tmp_path, tmp_path / "logs")
    try:
        admin = server.admin_authorization()
        hub = call(f"{server.url}/api/v1/repositories/hub", headers=admin).json()
        assert hub["managed_by_config"] is False  # no file manages it
        assert hub["default"] is True
        assert [proxy["url"] for proxy in hub["proxies"]] == ["https://registry-1.docker.io"]
        created = call(
            f"{server.url}/api/v1/repositories",
            method="POST",
            data=json.dumps({"name": "mirror", "default": True}).encode(),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert created.status == 201
        assert call(f"{server.url}/api/v1/repositories/hub", headers=admin).json()["default"] is False
    finally:
        server.stop()
    again = start_cargohold_bare(tmp_path, tmp_path / "logs")  # a restart does not bring hub back as default
    try:
        listed = call(f"{again.url}/api/v1/repositories", headers=again.admin_authorization()).json()
        assert {repository["name"]: repository["default"] for repository in listed} == {
            "hub": False,
            "mirror": True,
        }
    finally:
        again.stop()


def test_a_declared_repository_naming_a_host_of_an_api_repository_is_refused_at_start(tmp_path: Path) -> None:
    server = start_cargohold_bare(tmp_path, tmp_path / "logs")  # creates hub, which names docker.io
    server.stop()
    config = tmp_path / "cargohold.yml"
    config.write_text("repositories:\n  - name: mirror\n    hosts: [docker.io]\n")
    refused = subprocess.run(
        [str(cargohold_executable()), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "'mirror' and 'hub' both name host docker.io" in refused.stderr
    assert "Traceback" not in refused.stderr
