"""The serving settings as a user writes them: ``tls:`` (certificate and key, or self_signed), the
``trusted_proxies`` list from the file or a comma-separated variable, the drain timeout, and the public URL
that follows https; every mistake named by its setting."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cargohold.cli.config_check import config as config_group
from cargohold.config import load_settings
from cargohold.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("CARGOHOLD_"):
            monkeypatch.delenv(name)


def problems(config: Path | None = None, **overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, **overrides)
    return caught.value.message


def test_defaults_are_plain_http_trusting_no_proxy_with_a_30_second_drain() -> None:
    settings = load_settings()
    assert not settings.tls.enabled
    assert settings.trusted_proxies == []
    assert settings.shutdown_timeout_seconds == 30
    assert settings.public_url == "http://127.0.0.1:5000"


def test_tls_from_the_file_makes_the_derived_public_url_https(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("tls:\n  certificate: ~/cert.pem\n  key: /etc/cargohold/key.pem\n")
    settings = load_settings(config)
    assert settings.tls.enabled
    assert settings.tls.certificate == Path("~/cert.pem").expanduser()
    assert settings.public_url == "https://127.0.0.1:5000"
    assert (
        load_settings(config, public_url="https://registry.example").public_url == "https://registry.example"
    )


def test_flags_and_environment_merge_into_the_tls_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CARGOHOLD_TLS__KEY", "/k.pem")
    settings = load_settings(tls={"certificate": "/c.pem"})
    assert (settings.tls.certificate, settings.tls.key) == (Path("/c.pem"), Path("/k.pem"))
    monkeypatch.delenv("CARGOHOLD_TLS__KEY")
    monkeypatch.setenv("CARGOHOLD_TLS__SELF_SIGNED", "true")
    assert load_settings().tls.self_signed


def test_tls_mistakes_are_named() -> None:
    assert "certificate and key go together" in problems(tls={"certificate": "/c.pem"})
    assert "exclude each other" in problems(tls={"self_signed": True, "certificate": "/c", "key": "/k"})
    assert "tls.ciphers" in problems(tls={"ciphers": "ALL"})


def test_trusted_proxies_from_the_file_and_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "c.yml"
    config.write_text("trusted_proxies: [10.0.0.0/8, '::1', 192.0.2.7]\n")
    assert load_settings(config).trusted_proxies == networks("10.0.0.0/8", "::1/128", "192.0.2.7/32")
    monkeypatch.setenv("CARGOHOLD_TRUSTED_PROXIES", "127.0.0.1, 172.16.0.0/12")
    assert load_settings().trusted_proxies == networks("127.0.0.1/32", "172.16.0.0/12")
    assert load_settings(trusted_proxies=["10.1.2.3"]).trusted_proxies == networks("10.1.2.3/32")


def networks(*texts: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(text) for text in texts]


def test_trusted_proxy_mistakes_are_named() -> None:
    message = problems(trusted_proxies=["10.0.0.1/8"])
    assert "trusted_proxies" in message
    assert "10.0.0.1/8" in message
    assert "'nginx'" in problems(trusted_proxies=["nginx"])


def test_the_drain_timeout_is_bounded() -> None:
    assert "shutdown_timeout_seconds" in problems(shutdown_timeout_seconds=-1)
    assert load_settings(shutdown_timeout_seconds=0).shutdown_timeout_seconds == 0


def test_config_check_shows_tls_and_the_trusted_proxies(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("tls: {self_signed: true}\ntrusted_proxies: [10.0.0.0/8]\ndata_dir: /srv/cargohold\n")
    result = CliRunner().invoke(config_group, ["check", str(config)])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["tls", "self-signed,", "kept", "in", "/srv/cargohold/tls"] in lines
    assert ["trusted_proxies", "10.0.0.0/8"] in lines
    assert ["public_url", "https://127.0.0.1:5000"] in lines
