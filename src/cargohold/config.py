"""The settings: server options and the declarative ``repositories:`` section (DESIGN.md section 5).

Owns the pydantic models (``Settings``, ``RepositoryConfig``, ``ProxyConfig``), their validation, the
precedence of sources (flag > ``CARGOHOLD_*`` environment > YAML file > defaults), and the conversion of the
declared repositories into ``cargohold.models`` entities. Reading the YAML file and expanding ``${VAR}``
references live in ``cargohold.config_file``. Every failure leaves here as ``ConfigError`` whose message lists
each problem as ``<dotted.path>: <reason>`` and never carries a password.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from cargohold.config_file import format_problems, load_yaml_file
from cargohold.config_values import (
    check_http_url,
    join_host_port,
    normalise_host,
    redact_url,
    split_host_port,
)
from cargohold.errors import ConfigError, NameInvalidError
from cargohold.models import (
    MAX_CONNECTION_TIMEOUT_MS,
    Proxy,
    Repository,
    Visibility,
    validate_proxy_name,
    validate_repository_name,
)

__all__ = [
    "ProxyConfig",
    "RepositoryConfig",
    "Settings",
    "UpstreamSettings",
    "declared_repositories",
    "load_settings",
    "redact_url",
]

CONFIG_ENV_VAR: Final = "CARGOHOLD_CONFIG"
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")

# --- the models ---------------------------------------------------------------------------------------


class ProxyConfig(BaseModel):
    """One upstream registry of a repository, as declared in the file; priority is its place in the list."""

    model_config = ConfigDict(extra="forbid")

    name: str
    url: str
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ssl_validation: bool = True
    connection_timeout_ms: int = Field(default=5000, ge=1, le=MAX_CONNECTION_TIMEOUT_MS)
    active: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return validate_proxy_name(value)
        except NameInvalidError as exc:
            raise ValueError(exc.message) from None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value, allow_path=False)

    @field_validator("password_file")
    @classmethod
    def _password_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        if info.data.get("password") is not None:
            raise ValueError("give either password or password_file, not both")
        value = value.expanduser()
        _read_password_file(value)
        return value

    @model_validator(mode="after")
    def _load_password_file(self) -> ProxyConfig:
        if self.password_file is not None and self.password is None:
            self.password = SecretStr(_read_password_file(self.password_file))
        return self


def _read_password_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not UTF-8 text") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise ValueError(f"{str(path)!r} is empty")
    return password


class RepositoryConfig(BaseModel):
    """A repository declared in the file: created or updated to match at every start."""

    model_config = ConfigDict(extra="forbid")

    name: str
    visibility: Visibility = Visibility.PUBLIC
    default: bool = False
    hosts: list[Annotated[str, AfterValidator(normalise_host)]] = Field(default_factory=list)
    tag_ttl_seconds: int = Field(default=300, ge=0)
    proxies: list[ProxyConfig] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return validate_repository_name(value)
        except NameInvalidError as exc:
            raise ValueError(
                f"{exc.message}: use one lowercase path component of letters, digits and . _ - "
                "(at most 64 characters)"
            ) from None

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("proxies")
    @classmethod
    def _unique_proxies(cls, value: list[ProxyConfig]) -> list[ProxyConfig]:
        seen: set[str] = set()
        for proxy in value:
            if proxy.name in seen:
                raise ValueError(f"proxy name {proxy.name!r} is used more than once")
            seen.add(proxy.name)
        return value


class UpstreamSettings(BaseModel):
    """How cargohold treats upstream registries (the ``upstream:`` section)."""

    model_config = ConfigDict(extra="forbid")

    read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """A body or an answer that stalls this long fails the proxy (connecting is bounded per proxy)."""
    backoff_seconds: float = Field(default=5.0, ge=0, le=3600)
    """How long a proxy is skipped after a failure; doubles with each further failure."""
    max_backoff_seconds: float = Field(default=300.0, ge=0, le=86400)


def _default_repositories() -> list[RepositoryConfig]:
    return [
        RepositoryConfig(
            name="hub",
            visibility=Visibility.PUBLIC,
            default=True,
            hosts=["docker.io"],
            tag_ttl_seconds=300,
            proxies=[ProxyConfig(name="docker-hub", url="https://registry-1.docker.io")],
        )
    ]


# The parsed YAML file of the current load_settings() call; empty when Settings is built directly.
_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("cargohold_config_file_data", default=None)


class _YamlFileSource(PydanticBaseSettingsSource):
    """The lowest-priority source above defaults: the already parsed and expanded YAML file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_DATA.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


class Settings(BaseSettings):
    """Every server setting. Build it with ``load_settings()``; tests may construct it directly."""

    model_config = SettingsConfigDict(
        env_prefix="CARGOHOLD_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
    )

    listen: str = "127.0.0.1:5000"
    public_url: str = Field(default="", description="empty: derived as http://<listen>")
    data_dir: Path = Path("./data")
    database: str = Field(default="", description="empty: derived as sqlite:///<data_dir>/cargohold.db")
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    admin_password: SecretStr | None = None
    """The ``admin`` user's password on first start (CARGOHOLD_ADMIN_PASSWORD); else one is generated."""
    secret_key: SecretStr | None = None
    """The server key (CARGOHOLD_SECRET_KEY, url-safe base64 of 32 bytes); else ``<data_dir>/secret.key``."""
    repositories: list[RepositoryConfig] = Field(default_factory=_default_repositories)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlFileSource(settings_cls)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, port = split_host_port(value, require_port=True, allow_port_zero=True)
        return join_host_port(host, port)

    @field_validator("public_url", "database", mode="before")
    @classmethod
    def _none_means_derived(cls, value: object) -> object:
        return "" if value is None else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return value and check_http_url(value, allow_path=True)

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].split("+", 1)[0].lower() if "://" in value else None
        if value and scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must be a sqlite:///PATH or postgresql://USER@HOST/DB URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = {"warn": "warning", "fatal": "critical"}.get(value.lower(), value.lower())
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("repositories")
    @classmethod
    def _across_repositories(cls, value: list[RepositoryConfig]) -> list[RepositoryConfig]:
        problems: list[str] = []
        names: dict[str, int] = {}
        hosts: dict[str, str] = {}
        defaults = [repo.name for repo in value if repo.default]
        for index, repo in enumerate(value):
            if repo.name in names:
                problems.append(
                    f"repository name {repo.name!r} is used twice (repositories.{names[repo.name]} "
                    f"and repositories.{index})"
                )
            names.setdefault(repo.name, index)
            for host in repo.hosts:
                owner = hosts.setdefault(host, repo.name)
                if owner != repo.name:
                    problems.append(f"host {host!r} is named by both {owner!r} and {repo.name!r}")
        if len(defaults) > 1:
            problems.append(f"at most one repository may be the default, got {', '.join(defaults)}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{self.listen}"
        if not self.database:
            self.database = f"sqlite:///{self.data_dir / 'cargohold.db'}"
        return self

    @property
    def host(self) -> str:
        """The host to bind, without IPv6 brackets."""
        return split_host_port(self.listen, require_port=True, allow_port_zero=True)[0]

    @property
    def port(self) -> int:
        """The port to bind (0: any free port)."""
        port = split_host_port(self.listen, require_port=True, allow_port_zero=True)[1]
        assert port is not None
        return port

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database" and isinstance(value, str) else value


# --- loading -----------------------------------------------------------------------------------------


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Build the settings from flags (``overrides``; None values ignored), the environment, the YAML file
    (``config_file``, else ``$CARGOHOLD_CONFIG``, else none) and the defaults, in that precedence.

    Raises ConfigError listing every problem as ``<dotted.path>: <reason>``.
    """
    if config_file is None and os.environ.get(CONFIG_ENV_VAR):
        config_file = Path(os.environ[CONFIG_ENV_VAR])
    file_data = load_yaml_file(config_file) if config_file is not None else {}
    where = f" in {config_file}" if config_file is not None else ""
    flags = {key: value for key, value in overrides.items() if value is not None}
    token = _FILE_DATA.set(file_data)
    try:
        return Settings(**flags)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = format_problems(exc)
        raise ConfigError(
            f"invalid configuration{where}:\n" + "\n".join(f"  {p}" for p in problems), detail=problems
        ) from None
    except SettingsError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        variable = f"CARGOHOLD_{field[1].upper()}" if field else "a CARGOHOLD_* variable"
        problem = f"{variable}: cannot parse its value (a list or mapping is written as JSON)"
        raise ConfigError(f"invalid configuration: {problem}", detail=[problem]) from None
    finally:
        _FILE_DATA.reset(token)


def declared_repositories(settings: Settings) -> list[tuple[Repository, list[Proxy]]]:
    """The file's repositories as domain entities, marked managed by the config; priority = 1-based order."""
    declared: list[tuple[Repository, list[Proxy]]] = []
    for repo in settings.repositories:
        repository = Repository(
            name=repo.name,
            visibility=repo.visibility,
            default=repo.default,
            hosts=tuple(repo.hosts),
            tag_ttl_seconds=repo.tag_ttl_seconds,
            managed_by_config=True,
        )
        proxies = [
            Proxy(
                name=proxy.name,
                url=proxy.url,
                username=proxy.username,
                password=proxy.password.get_secret_value() if proxy.password is not None else None,
                ssl_validation=proxy.ssl_validation,
                connection_timeout_ms=proxy.connection_timeout_ms,
                active=proxy.active,
                priority=priority,
            )
            for priority, proxy in enumerate(repo.proxies, start=1)
        ]
        declared.append((repository, proxies))
    return declared
