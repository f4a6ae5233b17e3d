"""Settings as a user meets them: defaults, the YAML file, CARGOHOLD_* environment variables, flags, their
precedence, ${VAR} references, password files, and the error messages for every kind of mistake."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cargohold.config import (
    ProxyConfig,
    RepositoryConfig,
    Settings,
    builtin_repositories,
    declared_repositories,
    load_settings,
)
from cargohold.errors import ConfigError
from cargohold.models import Proxy, Repository, Visibility

SECRET = "hunter2-do-not-print"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CARGOHOLD_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("CARGOHOLD_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "cargohold.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(config_file: Path | None = None, **overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, **overrides)
    return caught.value.message


# --- defaults -------------------------------------------------------------------------------------------


def test_defaults_serve_docker_hub_on_localhost() -> None:
    settings = load_settings()
    assert settings.listen == "127.0.0.1:5000"
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.public_url == "http://127.0.0.1:5000"
    assert settings.data_dir == Path("data")
    assert settings.database == "sqlite:///data/cargohold.db"
    assert settings.workers == 1
    assert settings.log_level == "info"
    assert settings.repositories == []  # none declared: the first start creates hub
    [(hub, proxies)] = builtin_repositories(settings)
    assert not hub.managed_by_config
    assert hub.name == "hub"
    assert hub.visibility is Visibility.PUBLIC
    assert hub.default is True
    assert hub.hosts == ("docker.io",)
    assert hub.tag_ttl_seconds == 300
    assert [(p.name, p.url) for p in proxies] == [("docker-hub", "https://registry-1.docker.io")]


def test_settings_built_directly_derive_database_from_data_dir(tmp_path: Path) -> None:
    settings = Settings(listen="127.0.0.1:0", data_dir=tmp_path, repositories=[RepositoryConfig(name="test")])
    assert settings.port == 0
    assert settings.database == f"sqlite:///{tmp_path}/cargohold.db"
    assert settings.public_url == "http://127.0.0.1:0"
    assert [r.name for r in settings.repositories] == ["test"]


def test_ipv6_listen_address_has_host_without_brackets() -> None:
    settings = Settings(listen="[::1]:5001")
    assert (settings.host, settings.port) == ("::1", 5001)
    assert settings.public_url == "http://[::1]:5001"


def test_explicit_public_url_and_database_are_kept(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        public_url="https://registry.example.com/",
        database="postgresql://app@db/cargohold",
    )
    assert settings.public_url == "https://registry.example.com"
    assert settings.database == "postgresql://app@db/cargohold"


# --- the YAML file --------------------------------------------------------------------------------------

FULL_FILE = """
listen: 0.0.0.0:6000
public_url: https://registry.example.com
data_dir: /srv/cargohold
workers: 4
log_level: DEBUG
repositories:
  - name: hub
    visibility: public
    default: true
    hosts: [Docker.IO, "mirror.example.com:5000"]
    tag_ttl_seconds: 60
    proxies:
      - name: docker-hub
        url: https://registry-1.docker.io/
      - name: company
        url: https://docker.example.com:8443
        username: robot
        password: ${COMPANY_TOKEN}
        ssl_validation: false
        connection_timeout_ms: 1500
        active: false
  - name: team
    visibility: private
"""


def test_yaml_file_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANY_TOKEN", SECRET)
    settings = load_settings(write(tmp_path, FULL_FILE))
    assert settings.listen == "0.0.0.0:6000"
    assert settings.public_url == "https://registry.example.com"
    assert settings.data_dir == Path("/srv/cargohold")
    assert settings.database == "sqlite:////srv/cargohold/cargohold.db"
    assert settings.workers == 4
    assert settings.log_level == "debug"
    hub, team = settings.repositories
    assert hub.hosts == ["docker.io", "mirror.example.com:5000"]
    assert hub.tag_ttl_seconds == 60
    hub_proxy, company = hub.proxies
    assert hub_proxy.url == "https://registry-1.docker.io"
    assert company.username == "robot"
    assert company.password is not None
    assert company.password.get_secret_value() == SECRET
    assert (company.ssl_validation, company.connection_timeout_ms, company.active) == (False, 1500, False)
    assert (team.visibility, team.default, team.proxies) == (Visibility.PRIVATE, False, [])


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "# nothing here\n"))
    assert settings.listen == "127.0.0.1:5000"
    assert [r.name for r, _ in builtin_repositories(settings)] == ["hub"]


def test_empty_repository_list_means_no_repositories(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "repositories: []\n"))
    assert settings.repositories == []
    assert builtin_repositories(settings) == []


def test_cargohold_config_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_CONFIG", str(write(tmp_path, "workers: 3\n")))
    assert load_settings().workers == 3


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    message = problems_of(tmp_path / "absent.yaml")
    assert "absent.yaml" in message
    assert "No such file" in message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, f"workers: 1\npassword: {SECRET}\nrepositories: [\n"))
    assert "not valid YAML" in message
    assert "line 4" in message
    assert SECRET not in message


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, "workers: 1\nworkers: 2\n"))
    assert "line 2" in message
    assert "'workers' is given twice" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in problems_of(write(tmp_path, "- listen\n"))


# --- environment, flags, precedence ---------------------------------------------------------------------


def test_environment_sets_top_level_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_LISTEN", "0.0.0.0:7000")
    monkeypatch.setenv("CARGOHOLD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CARGOHOLD_WORKERS", "3")
    settings = load_settings()
    assert settings.listen == "0.0.0.0:7000"
    assert settings.data_dir == tmp_path
    assert settings.workers == 3
    assert settings.database == f"sqlite:///{tmp_path}/cargohold.db"


def test_environment_repositories_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_REPOSITORIES", '[{"name": "only", "proxies": []}]')
    assert [r.name for r in load_settings().repositories] == ["only"]


def test_unparseable_environment_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_REPOSITORIES", "not json")
    assert "CARGOHOLD_REPOSITORIES" in problems_of()


def test_bad_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_WORKERS", "many")
    assert "workers: Input should be a valid integer" in problems_of()


def test_precedence_flag_over_environment_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "listen: 127.0.0.1:6001\nworkers: 2\nlog_level: warning\n")
    monkeypatch.setenv("CARGOHOLD_LISTEN", "127.0.0.1:6002")
    monkeypatch.setenv("CARGOHOLD_WORKERS", "3")
    settings = load_settings(config, listen="127.0.0.1:6003", workers=None, data_dir=None)
    assert settings.listen == "127.0.0.1:6003"  # flag beats environment and file
    assert settings.workers == 3  # environment beats file (the None flag is ignored)
    assert settings.log_level == "warning"  # file beats default
    assert settings.data_dir == Path("data")  # default


# --- ${VAR} references ----------------------------------------------------------------------------------


def test_references_expand_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "6100")
    monkeypatch.setenv("EMPTY", "")
    config = write(
        tmp_path,
        "listen: 127.0.0.1:${PORT}\nworkers: ${NOT_SET_ANYWHERE:-5}\nlog_level: ${EMPTY:-error}\n"
        "public_url: http://x.example.com/$${literal}\n",
    )
    settings = load_settings(config)
    assert settings.listen == "127.0.0.1:6100"
    assert settings.workers == 5
    assert settings.log_level == "error"
    assert settings.public_url == "http://x.example.com/${literal}"


def test_missing_variable_is_named_with_its_path(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "repositories:\n  - name: hub\n    proxies:\n      - name: up\n        url: https://up.example.com\n"
        "        password: ${CARGOHOLD_TEST_UNSET_TOKEN}\n",
    )
    message = problems_of(config)
    assert (
        "repositories.0.proxies.0.password: environment variable CARGOHOLD_TEST_UNSET_TOKEN is not set"
        in message
    )


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    assert "log_level: malformed environment reference" in problems_of(write(tmp_path, "log_level: ${1x}\n"))


# --- passwords ------------------------------------------------------------------------------------------


def proxy_yaml(extra: str) -> str:
    return (
        "repositories:\n  - name: hub\n    proxies:\n      - name: up\n        url: https://up.example.com\n"
        + "".join(f"        {line}\n" for line in extra.splitlines())
    )


def test_password_file_is_read_without_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(SECRET + "\n", encoding="utf-8")
    settings = load_settings(write(tmp_path, proxy_yaml(f"password_file: {tmp_path / 'token'}")))
    [[_, [proxy]]] = declared_repositories(settings)
    assert proxy.password == SECRET


def test_password_and_password_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("x\n", encoding="utf-8")
    message = problems_of(
        write(tmp_path, proxy_yaml(f"password: {SECRET}\npassword_file: {tmp_path / 'token'}"))
    )
    assert "repositories.0.proxies.0.password_file: give either password or password_file" in message
    assert SECRET not in message


def test_unreadable_password_file_is_an_error(tmp_path: Path) -> None:
    message = problems_of(write(tmp_path, proxy_yaml(f"password_file: {tmp_path / 'missing'}")))
    assert "repositories.0.proxies.0.password_file: cannot read" in message


def test_no_password_in_str_repr_or_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANY_TOKEN", SECRET)
    settings = load_settings(write(tmp_path, FULL_FILE), database=f"postgresql://app:{SECRET}@db/cargohold")
    assert SECRET not in str(settings)
    assert SECRET not in repr(settings)
    assert SECRET not in repr(settings.repositories[0].proxies[1])
    broken = FULL_FILE.replace("connection_timeout_ms: 1500", "connection_timeout_ms: -1").replace(
        "username: robot", f"username: robot\n        passwrd: {SECRET}"
    )
    message = problems_of(write(tmp_path, broken))
    assert "passwrd: unknown setting" in message
    assert SECRET not in message


# --- validation errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("url: ftp://up.example.com", "url: 'ftp://up.example.com' is not an http:// or https:// URL"),
        ("url: https://up.example.com/a/../v2", "url: 'https://up.example.com/a/../v2': a path is"),
        ("url: https://up.example.com?x=1", "url: 'https://up.example.com?x=1' must not have a query"),
        (
            "url: https://up.example.com:99999",
            "url: 'https://up.example.com:99999': port 99999 is out of range",
        ),
        ("url: https://me:pw@up.example.com", "url: credentials do not belong in the URL"),
        ("connection_timeout_ms: -5", "connection_timeout_ms: Input should be greater than or equal to 1"),
        ("connection_timeout_ms: 600001", "connection_timeout_ms: Input should be less than or equal to"),
        ("colour: blue", "colour: unknown setting"),
    ],
)
def test_bad_proxy_settings_are_reported_at_their_path(tmp_path: Path, extra: str, expected: str) -> None:
    text = proxy_yaml(extra)
    if extra.startswith("url:"):
        text = text.replace("        url: https://up.example.com\n", "", 1)
    message = problems_of(write(tmp_path, text))
    assert f"repositories.0.proxies.0.{expected}" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("listen: localhost\n", "listen: 'localhost' has no port"),
        ("listen: '[nope]:80'\n", "listen: [nope] is not an IPv6 address"),
        ("workers: 0\n", "workers: Input should be greater than or equal to 1"),
        ("log_level: loud\n", "log_level: must be one of"),
        ("database: mysql://x/y\n", "database: must be a sqlite:///PATH or postgresql"),
        ("public_url: registry.example.com\n", "public_url: 'registry.example.com' is not an http"),
        ("listn: 127.0.0.1:5000\n", "listn: unknown setting"),
        ("repositories:\n  - name: Hub\n", "repositories.0.name: invalid repository name 'Hub'"),
        ("repositories:\n  - name: a/b\n", "repositories.0.name: invalid repository name 'a/b'"),
        (
            "repositories:\n  - name: a\n    visibility: secret\n",
            "repositories.0.visibility: Input should be",
        ),
        ("repositories:\n  - name: a\n    tag_ttl_seconds: -1\n", "repositories.0.tag_ttl_seconds: Input"),
        (
            "repositories:\n  - name: a\n    hosts: [http://x/]\n",
            "repositories.0.hosts.0: 'http://x/' is not",
        ),
        ("repositories:\n  - {name: a}\n  - {name: a}\n", "repositories: repository name 'a' is used twice"),
        (
            "repositories:\n  - {name: a, default: true}\n  - {name: b, default: true}\n",
            "repositories: at most one repository may be the default, got a, b",
        ),
        (
            "repositories:\n  - {name: a, hosts: [docker.io]}\n  - {name: b, hosts: [DOCKER.io]}\n",
            "repositories: host 'docker.io' is named by both 'a' and 'b'",
        ),
        (
            "repositories:\n  - name: a\n    proxies:\n      - {name: p, url: 'http://x'}\n"
            "      - {name: p, url: 'http://y'}\n",
            "repositories.0.proxies: proxy name 'p' is used more than once",
        ),
    ],
)
def test_bad_settings_are_reported_at_their_path(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in problems_of(write(tmp_path, text))


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    error_lines = problems_of(write(tmp_path, "workers: 0\nlisten: x\nbogus: 1\n")).splitlines()[1:]
    assert sorted(line.split(":")[0].strip() for line in error_lines) == ["bogus", "listen", "workers"]


def test_unknown_flag_is_a_config_error() -> None:
    assert "colour: unknown setting" in problems_of(colour="blue")


# --- conversion to domain entities ----------------------------------------------------------------------


def test_declared_repositories_are_managed_and_prioritised() -> None:
    settings = Settings(
        repositories=[
            RepositoryConfig(
                name="hub",
                default=True,
                hosts=["docker.io"],
                proxies=[
                    ProxyConfig(name="first", url="https://a.example.com"),
                    ProxyConfig(
                        name="second", url="http://b.example.com:5000", username="u", password=SECRET
                    ),
                ],
            ),
            RepositoryConfig(name="team", visibility=Visibility.PRIVATE, tag_ttl_seconds=0),
        ]
    )
    assert declared_repositories(settings) == [
        (
            Repository(name="hub", default=True, hosts=("docker.io",), managed_by_config=True),
            [
                # the operator wrote these URLs: approved for private addresses
                Proxy(name="first", url="https://a.example.com", priority=1, private_networks_approved=True),
                Proxy(
                    name="second",
                    url="http://b.example.com:5000",
                    username="u",
                    password=SECRET,
                    priority=2,
                    private_networks_approved=True,
                ),
            ],
        ),
        (
            Repository(name="team", visibility=Visibility.PRIVATE, tag_ttl_seconds=0, managed_by_config=True),
            [],
        ),
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("username: 'me:you'", "username: must not contain ':' or control characters"),
        ('username: "me\\a"', "username: must not contain ':' or control characters"),
        ('password: "line\\nbreak"', "password: must not contain line breaks or other control characters"),
    ],
)
def test_credentials_the_api_refuses_are_refused_with_its_message(
    tmp_path: Path, extra: str, expected: str
) -> None:
    assert f"repositories.0.proxies.0.{expected}" in problems_of(write(tmp_path, proxy_yaml(extra)))


def test_a_tag_ttl_beyond_ten_years_is_refused_like_the_api_refuses_it(tmp_path: Path) -> None:
    text = "repositories:\n  - name: a\n    tag_ttl_seconds: 99999999999999\n"
    message = problems_of(write(tmp_path, text))
    assert "repositories.0.tag_ttl_seconds: Input should be less than or equal to 315360000" in message


def test_the_cache_policy_and_the_store_limits_take_sizes_with_units(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            "storage: {max_bytes: 500GiB, min_free_bytes: 5368709120, low_water_percent: 80}\n"
            "repositories:\n"
            "  - name: hub\n"
            "    max_cached_bytes: 200GiB\n"
            "    evict_unused_after_days: 30\n"
            '    pins: ["library/alpine:3.20", "library/python:*"]\n',
        )
    )
    assert (settings.storage.max_bytes, settings.storage.min_free_bytes) == (500 << 30, 5 << 30)
    assert settings.storage.low_water_percent == 80
    (hub,) = declared_repositories(settings)
    repository = hub[0]
    assert (repository.max_cached_bytes, repository.evict_unused_after_days) == (200 << 30, 30)
    assert repository.pins == ("library/alpine:3.20", "library/python:*")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("storage: {max_bytes: lots}\n", "storage.max_bytes"),
        ("repositories: [{name: hub, max_cached_bytes: -1}]\n", "repositories.0.max_cached_bytes"),
        ("repositories: [{name: hub, pins: ['has space']}]\n", "repositories.0.pins.0"),
    ],
)
def test_a_bad_size_or_pin_names_its_place(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(where)):
        load_settings(write(tmp_path, text))


# --- log format, metrics access, database schema --------------------------------------------------------


def test_log_format_from_file_environment_and_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, "log_format: json\n")
    assert Settings().log_format == "text"
    assert load_settings(config).log_format == "json"
    assert "log_format: Input should be 'text' or 'json'" in problems_of(write(tmp_path, "log_format: xml\n"))
    monkeypatch.setenv("CARGOHOLD_LOG_FORMAT", "text")
    assert load_settings(config).log_format == "text"
    assert load_settings(config, log_format="json").log_format == "json"


def test_metrics_access_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().metrics.public, Settings().metrics.token) == (False, None)
    monkeypatch.setenv("SCRAPE", "a-scrape-token-of-some-length")
    settings = load_settings(write(tmp_path, "metrics:\n  public: true\n  token: ${SCRAPE}\n"))
    assert settings.metrics.public is True
    assert settings.metrics.token is not None
    assert settings.metrics.token.get_secret_value() == "a-scrape-token-of-some-length"
    assert "a-scrape-token" not in repr(settings)
    monkeypatch.setenv("CARGOHOLD_METRICS__PUBLIC", "false")
    assert load_settings().metrics.public is False
    assert "metrics.token: must be at least 16 characters" in problems_of(
        write(tmp_path, "metrics:\n  token: short\n")
    )


def test_database_schema_must_be_a_plain_identifier(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "database_schema: cargo_1\n")).database_schema == "cargo_1"
    assert "database_schema:" in problems_of(write(tmp_path, "database_schema: 'x; drop'\n"))
