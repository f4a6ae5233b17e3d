"""The declarative ``repositories:`` section of the config file (README.md, "Configuration").

Owns ``RepositoryConfig`` and ``ProxyConfig`` (their validation: names, hosts, URLs, timeouts, a password
given inline or read from ``password_file``), the built-in default (repository ``hub`` proxying Docker Hub),
and ``as_entities``: a declared repository as ``cargohold.models`` entities, marked managed by the config
file. The value grammars are the registry's own (``cargohold.registry.addresses``), so the file and the
management API accept and refuse the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cargohold.errors import NameInvalidError
from cargohold.models import (
    MAX_CONNECTION_TIMEOUT_MS,
    Proxy,
    Repository,
    Visibility,
    validate_proxy_name,
    validate_repository_name,
)
from cargohold.registry.addresses import check_http_url, normalise_host

__all__ = ["ProxyConfig", "RepositoryConfig", "as_entities", "default_repositories"]


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


def default_repositories() -> list[RepositoryConfig]:
    """What serves when the file declares no ``repositories:``: ``hub``, a public proxy of Docker Hub."""
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


def as_entities(repo: RepositoryConfig) -> tuple[Repository, list[Proxy]]:
    """A declared repository as domain entities, marked managed by the config; priority = 1-based order."""
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
    return repository, proxies
