"""The ``cargohold`` command as a user runs it: the installed console script in a subprocess for --version,
``config check`` and ``serve`` with a bad configuration; flag wiring of ``serve`` in-process with the server
replaced, so it is checked without binding a port."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from cargohold.cli import cli
from cargohold.config import Settings
from cargohold.errors import ConfigError

CARGOHOLD = Path(sys.executable).with_name("cargohold")
SECRET = "s3cret-never-shown"

GOOD_FILE = """
listen: 127.0.0.1:6000
repositories:
  - name: hub
    default: true
    hosts: [docker.io]
    proxies:
      - name: docker-hub
        url: https://registry-1.docker.io
      - name: company
        url: https://docker.example.com
        username: robot
        password: ${CLI_TEST_TOKEN}
        ssl_validation: false
        connection_timeout_ms: 2500
        active: false
  - name: team
    visibility: private
"""

BAD_FILE = f"""
listen: 127.0.0.1
workers: 0
repositories:
  - name: Team
    proxies:
      - name: up
        url: ftp://up.example.com
        password: {SECRET}
        passwrd: {SECRET}
"""


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CARGOHOLD_")}
    clean.update(COLUMNS="200", NO_COLOR="1", **env)
    return subprocess.run(
        [str(CARGOHOLD), *args], capture_output=True, text=True, env=clean, timeout=60, check=False
    )


def test_console_script_is_installed() -> None:
    assert CARGOHOLD.is_file(), f"{CARGOHOLD} missing: is the package installed in this venv?"


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"cargohold, version {version('cargohold')}"


def test_config_check_good_file(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_FILE, encoding="utf-8")
    result = run("config", "check", str(config), CLI_TEST_TOKEN=SECRET, CARGOHOLD_WORKERS="3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{config}: OK"
    assert any(line.split() == ["workers", "3"] for line in lines)  # the environment is applied
    assert any(line.split() == ["listen", "127.0.0.1:6000"] for line in lines)
    proxies = [line.strip() for line in lines if line.strip()[:2] in ("1.", "2.")]
    assert proxies[0].startswith(
        "1. docker-hub  https://registry-1.docker.io  ssl_validation on  timeout 5000 ms"
    )
    assert proxies[0].endswith("active  no username  password not set")
    assert proxies[1].startswith(
        "2. company  https://docker.example.com  ssl_validation off  timeout 2500 ms"
    )
    assert proxies[1].endswith("inactive  username robot  password set")
    assert any("team  private" in line for line in lines)
    assert SECRET not in result.stdout + result.stderr
    # hub is public (the default) and its proxy company has credentials: anyone can pull what they read
    warnings = [line.strip() for line in lines if line.strip().startswith("warning:")]
    assert warnings == [
        "warning: Repository hub is public and its proxy company has credentials: anyone, even without "
        "signing in, can pull through it what those credentials can read from https://docker.example.com. "
        "Make the repository private, or remove the proxy's credentials."
    ]


def test_config_check_bad_file_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_FILE, encoding="utf-8")
    result = run("config", "check", str(config))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"cargohold: invalid configuration in {config}:")
    for problem in (
        "listen: '127.0.0.1' has no port",
        "workers: Input should be greater than or equal to 1",
        "repositories.0.name: invalid repository name 'Team'",
        "repositories.0.proxies.0.url: 'ftp://up.example.com' is not an http:// or https:// URL",
        "repositories.0.proxies.0.passwrd: unknown setting",
    ):
        assert problem in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_config_check_names_a_missing_variable(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text(GOOD_FILE, encoding="utf-8")
    result = run("config", "check", str(config))
    assert result.returncode == 1
    assert (
        "repositories.0.proxies.1.password: environment variable CLI_TEST_TOKEN is not set" in result.stderr
    )


def test_config_check_missing_file(tmp_path: Path) -> None:
    result = run("config", "check", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "cannot read config file" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_FILE, encoding="utf-8")
    result = run("serve", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.startswith(f"cargohold: invalid configuration in {config}:")
    assert "repositories.0.proxies.0.url" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_serve_with_bad_flag_or_environment_exits_2(tmp_path: Path) -> None:
    result = run("serve", "--listen", "nowhere")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "cargohold: invalid configuration:\n  listen: 'nowhere' has no port; expected HOST:PORT",
    )
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_FILE, encoding="utf-8")
    result = run("serve", CARGOHOLD_CONFIG=str(config))
    assert result.returncode == 2
    assert "repositories.0.name" in result.stderr


# --- serve's wiring, with cargohold.app replaced ----------------------------------------------------------


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    for name in list(os.environ):
        if name.upper().startswith("CARGOHOLD_"):
            monkeypatch.delenv(name)
    served: list[Settings] = []
    module = types.ModuleType("cargohold.app")

    def serve(settings: Settings) -> None:
        if settings.workers == 13:
            raise ConfigError(f"cannot create {settings.data_dir}")
        served.append(settings)

    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cargohold.app", module)
    return served


def test_serve_passes_flags_over_file_and_environment(
    tmp_path: Path, fake_app: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("listen: 127.0.0.1:6000\nworkers: 2\nlog_level: debug\n", encoding="utf-8")
    monkeypatch.setenv("CARGOHOLD_WORKERS", "3")
    args = ["serve", "--config", str(config), "--listen", "[::1]:0", "--data-dir", str(tmp_path / "d")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    [settings] = fake_app
    assert (settings.host, settings.port, settings.workers) == ("::1", 0, 3)
    assert settings.data_dir == tmp_path / "d"
    assert settings.log_level == "debug"
    result = CliRunner().invoke(cli, ["serve", "--workers", "5"])
    assert result.exit_code == 0, result.output
    assert fake_app[-1].workers == 5
    assert fake_app[-1].listen == "127.0.0.1:5000"


def test_serve_reports_config_error_from_the_server(tmp_path: Path, fake_app: list[Settings]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "13", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert f"cargohold: cannot create {tmp_path}" in result.output
    assert fake_app == []
