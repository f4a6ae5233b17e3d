"""The ``storage:`` section: filesystem stays the default; the S3 driver's settings from the file, ``${VAR}``
references and ``CARGOHOLD_STORAGE__…`` variables; what is refused, with the setting's path; no secret in
the settings' repr or in an error; and the options the app hands the S3 driver."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cargohold.app import s3_options
from cargohold.cli import cli
from cargohold.config import load_settings
from cargohold.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


def problems(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.message


def test_filesystem_is_the_default() -> None:
    settings = load_settings()
    assert settings.storage.driver == "filesystem"
    assert settings.storage.redirect is False
    assert settings.storage.s3 is None


def test_s3_settings_from_the_file_with_environment_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_KEY", "AKIDEXAMPLE")
    monkeypatch.setenv("S3_SECRET", "very-secret-value")
    path = write(
        tmp_path,
        """
storage:
  driver: s3
  redirect: true
  s3:
    endpoint_url: "http://127.0.0.1:9000/"
    region: eu-west-1
    bucket: cargohold
    prefix: /registry/one/
    access_key_id: ${S3_KEY}
    secret_access_key: ${S3_SECRET}
    path_style: true
    verify_tls: false
    part_size: 32MiB
""",
    )
    settings = load_settings(path)
    s3 = settings.storage.s3
    assert s3 is not None
    assert (s3.endpoint_url, s3.region, s3.bucket, s3.prefix) == (
        "http://127.0.0.1:9000",
        "eu-west-1",
        "cargohold",
        "registry/one/",
    )
    assert s3.part_size == 32 * 1024 * 1024
    assert "very-secret-value" not in repr(settings)
    options = s3_options(settings)
    assert options.secret_access_key == "very-secret-value"
    assert options.access_key_id == "AKIDEXAMPLE"
    assert options.verify is False
    assert options.redirect is True
    assert options.path_style is True
    assert "very-secret-value" not in repr(options)


def test_s3_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_STORAGE__DRIVER", "s3")
    monkeypatch.setenv("CARGOHOLD_STORAGE__S3__BUCKET", "from-env")
    settings = load_settings()
    assert settings.storage.driver == "s3"
    assert settings.storage.s3 is not None
    assert settings.storage.s3.bucket == "from-env"
    options = s3_options(settings)
    assert options.access_key_id is None, "no keys given: the standard AWS chain finds them"
    assert options.endpoint_url is None, "no endpoint: AWS S3"


def test_credentials_file_and_ca_bundle(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[ci]\naws_access_key_id = A\naws_secret_access_key = B\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(
        tmp_path,
        f"storage: {{driver: s3, s3: {{bucket: abc, credentials_file: {credentials}, profile: ci, "
        f"ca_bundle: {ca}}}}}\n",
    )
    options = s3_options(load_settings(path))
    assert options.credentials_file == credentials
    assert options.profile == "ci"
    assert options.verify == str(ca)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("storage: {driver: s3}\n", "needs an s3: section"),
        ("storage: {driver: ftp}\n", "storage.driver"),
        ("storage: {redirect: true}\n", "redirect needs driver s3"),
        ("storage: {driver: s3, s3: {bucket: abc, part_size: 1MiB}}\n", "between 5MiB and 5GiB"),
        ("storage: {driver: s3, s3: {bucket: abc, endpoint_url: 'ftp://x'}}\n", "storage.s3.endpoint_url"),
        ("storage: {driver: s3, s3: {bucket: abc, access_key_id: only-one}}\n", "together"),
        ("storage: {driver: s3, s3: {bucket: abc, prefix: 'a/../b'}}\n", "storage.s3.prefix"),
        ("storage: {driver: s3, s3: {bucket: abc, ca_bundle: /nonexistent/ca.pem}}\n", "not a readable file"),
        ("storage: {driver: s3, s3: {bucket: abc, unknown: 1}}\n", "storage.s3.unknown"),
    ],
)
def test_refused_settings_name_their_path(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in problems(write(tmp_path, text))


def test_a_secret_is_not_echoed_in_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "storage: {driver: s3, s3: {bucket: x, secret_access_key: hunter2-secret}}\n")
    message = problems(path)
    assert "hunter2-secret" not in message


def test_config_check_summarises_the_store_without_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "storage: {driver: s3, redirect: true, s3: {bucket: abc, endpoint_url: 'http://127.0.0.1:9000', "
        "access_key_id: AKIDX, secret_access_key: hidden-secret-x}}\n",
    )
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "s3 bucket abc at http://127.0.0.1:9000" in result.output
    assert "keys set" in result.output
    assert "redirects to presigned URLs" in result.output
    assert "hidden-secret-x" not in result.output
