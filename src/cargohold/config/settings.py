"""The server settings (README.md, "Configuration") and where they come from.

Owns ``Settings`` (every server option, with ``repositories:`` as ``cargohold.config.repositories`` declares
it), ``UpstreamSettings``, their validation, the precedence of sources (flag > ``CARGOHOLD_*`` environment >
YAML file > defaults) in ``load_settings``, and ``redact_url`` for showing a database URL. Reading the YAML
file and expanding ``${VAR}`` references live in ``cargohold.config.file``. Every failure leaves here as
``ConfigError`` whose message lists each problem as ``<dotted.path>: <reason>`` and never carries a password.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from cargohold.config.file import format_problems, load_yaml_file
from cargohold.config.repositories import RepositoryConfig, as_entities, default_repositories
from cargohold.config.serving import Network, TlsSettings, parse_trusted_proxies
from cargohold.config.storage import S3Settings, StorageSettings
from cargohold.errors import ConfigError
from cargohold.models import Proxy, Repository
from cargohold.registry.addresses import check_http_url, join_host_port, split_host_port
from cargohold.registry.networks import DEFAULT_DENIED_NETWORKS, NetworkPolicy, parse_networks

__all__ = [
    "MetricsSettings",
    "S3Settings",
    "Settings",
    "StorageSettings",
    "TlsSettings",
    "UploadSettings",
    "UpstreamSettings",
    "builtin_repositories",
    "declared_repositories",
    "load_settings",
    "redact_url",
]

CONFIG_ENV_VAR: Final = "CARGOHOLD_CONFIG"
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
MIN_SCRAPE_TOKEN_LENGTH: Final = 16


def redact_url(url: str) -> str:
    """``url`` with any password in its userinfo replaced by ``***`` (for logs, repr and summaries)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/]*@", r"\1:***@", url)


class UpstreamSettings(BaseModel):
    """How cargohold treats upstream registries (the ``upstream:`` section)."""

    model_config = ConfigDict(extra="forbid")

    read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """A body or an answer that stalls this long fails the proxy (connecting is bounded per proxy)."""
    backoff_seconds: float = Field(default=5.0, ge=0, le=3600)
    """How long a proxy is skipped after a failure; doubles with each further failure."""
    max_backoff_seconds: float = Field(default=300.0, ge=0, le=86400)
    min_bytes_per_second: float = Field(default=16384.0, ge=0)
    """A blob body slower than this on average over ``throughput_window_seconds`` fails the proxy for that
    blob (a trickle that never stalls long enough for the read timeout); 0 switches it off."""
    throughput_window_seconds: float = Field(default=30.0, gt=0, le=3600)
    negative_ttl_seconds: float = Field(default=30.0, ge=0, le=86400)
    """How long a manifest that every proxy said it does not have is answered 404 without asking them
    again (0: always ask)."""
    denied_networks: list[str] = Field(default_factory=lambda: list(DEFAULT_DENIED_NETWORKS), max_length=1000)
    """Networks no proxy ever connects to, checked on the resolved address of every connection (default:
    link-local with the cloud metadata addresses, the unspecified, multicast and broadcast ranges)."""
    private_networks_require_admin: bool = True
    """Only proxies whose URL a global admin (or this file) set may reach loopback and private addresses."""

    @field_validator("denied_networks")
    @classmethod
    def _denied_networks(cls, value: list[str]) -> list[str]:
        return [str(network) for network in parse_networks(value)]

    def network_policy(self) -> NetworkPolicy:
        """The rules upstream connections are held to (``cargohold.registry.networks``)."""
        return NetworkPolicy(parse_networks(self.denied_networks), self.private_networks_require_admin)


class GcSettings(BaseModel):
    """Garbage collection of unreferenced blobs, abandoned uploads and orphan spools (the ``gc:`` section)."""

    model_config = ConfigDict(extra="forbid")

    interval_seconds: float = Field(default=3600.0, ge=0, le=30 * 86400)
    """How often the server collects on its own; 0 turns the schedule off (``cargohold gc`` still runs)."""
    grace_seconds: float = Field(default=3600.0, ge=0, le=30 * 86400)
    """A blob file modified this recently is never removed, referenced or not."""
    upload_max_idle_seconds: float = Field(default=86400.0, ge=0, le=365 * 86400)
    """An upload session (or a spool no session owns) idle this long is abandoned and removed."""


class UploadSettings(BaseModel):
    """Bounds on push upload sessions (the ``uploads:`` section); a session idle for
    ``gc.upload_max_idle_seconds`` has expired and no longer counts."""

    model_config = ConfigDict(extra="forbid")

    max_sessions_per_user: int = Field(default=256, ge=0, le=1_000_000)
    """Upload sessions one user may have open at once (0: no cap); one more is answered 429."""
    max_sessions_per_repository: int = Field(default=1024, ge=0, le=1_000_000)
    """Upload sessions open at once in one repository, all users together (0: no cap)."""


class MetricsSettings(BaseModel):
    """Who may scrape ``/metrics`` without a user (the ``metrics:`` section)."""

    model_config = ConfigDict(extra="forbid")

    public: bool = False
    """Anyone may scrape, unauthenticated (every repository's counters, private ones included)."""
    token: SecretStr | None = None
    """A scrape token: ``Authorization: Bearer <token>`` reads every repository's counters (no user)."""

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SCRAPE_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_SCRAPE_TOKEN_LENGTH} characters (a random string)")
        return value


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
    public_url: str = Field(default="", description="empty: derived as http(s)://<listen>")
    data_dir: Path = Path("./data")
    database: str = Field(default="", description="empty: derived as sqlite:///<data_dir>/cargohold.db")
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL only: the schema cargohold's tables live in (created when missing); else the default."""
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    tls: TlsSettings = Field(default_factory=TlsSettings)
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    """Peers whose X-Forwarded-For/-Proto/-Host and Forwarded headers are believed (addresses or CIDRs)."""
    shutdown_timeout_seconds: float = Field(default=30.0, ge=0, le=3600)
    """On SIGTERM, how long running requests (and then running cache downloads) may take to finish."""
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (time, level, logger, message; the access log's fields)."""
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    admin_password: SecretStr | None = None
    """The ``admin`` user's password on first start (CARGOHOLD_ADMIN_PASSWORD); else one is generated."""
    secret_key: SecretStr | None = None
    """The server key (CARGOHOLD_SECRET_KEY, url-safe base64 of 32 bytes); else ``<data_dir>/secret.key``."""
    repositories: list[RepositoryConfig] = Field(
        default_factory=list, description="when not given at all, the first start creates hub"
    )

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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _trusted_proxies(cls, value: object) -> list[Network]:
        return parse_trusted_proxies(value)

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
            self.public_url = self.derived_public_url
        if not self.database:
            self.database = f"sqlite:///{self.data_dir / 'cargohold.db'}"
        return self

    @property
    def derived_public_url(self) -> str:
        """``http(s)://<listen>``: the public URL when none is configured."""
        return f"{'https' if self.tls.enabled else 'http'}://{self.listen}"

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
    return [as_entities(repo) for repo in settings.repositories]


def builtin_repositories(settings: Settings) -> list[tuple[Repository, list[Proxy]]]:
    """What a first start creates when the file declares no repositories: ``hub``, a public proxy of Docker
    Hub, as an ordinary repository (managed through the API, CLI and UI like any other)."""
    if "repositories" in settings.model_fields_set:  # given, even as an empty list
        return []
    return [as_entities(repo, managed_by_config=False) for repo in default_repositories()]
