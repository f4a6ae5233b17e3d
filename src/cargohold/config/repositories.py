"""The declarative ``repositories:`` section of the config file (README.md, "Configuration").

Owns ``RepositoryConfig`` and ``ProxyConfig``: the registry's own ``RepositoryFields`` and
``ProxyFields`` (``cargohold.registry.values``, the one vocabulary the management API and the web UI use
too, so the file and the API accept and refuse the same values with the same messages), plus what only the
file has: a repository's ``proxies`` list and a proxy's ``password_file``. Also the built-in default
(repository ``hub`` proxying Docker Hub) and ``as_entities``: a declared repository as ``cargohold.models``
entities, marked managed by the config file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pydantic import ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from cargohold.models import Proxy, Repository, Visibility
from cargohold.registry.repositories import proxy_from_settings, repository_from_settings
from cargohold.registry.values import ProxyFields, RepositoryFields

__all__ = ["ProxyConfig", "RepositoryConfig", "as_entities", "default_repositories"]


class ProxyConfig(ProxyFields):
    """One upstream registry of a repository, as declared in the file; priority is its place in the list.
    The password is given inline or read from ``password_file``."""

    model_config = ConfigDict(frozen=False)

    password_file: Path | None = None

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


class RepositoryConfig(RepositoryFields):
    """A repository declared in the file: created or updated to match at every start."""

    proxies: list[ProxyConfig] = Field(default_factory=list)

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


def as_entities(repo: RepositoryConfig, *, managed_by_config: bool = True) -> tuple[Repository, list[Proxy]]:
    """A declared repository as domain entities, marked managed by the config; priority = 1-based order."""
    repository = repository_from_settings(repo, managed_by_config=managed_by_config)
    proxies = [
        # the operator wrote these URLs: they may lead to private addresses (docs/security.md)
        dataclasses.replace(proxy_from_settings(proxy), priority=priority, private_networks_approved=True)
        for priority, proxy in enumerate(repo.proxies, start=1)
    ]
    return repository, proxies
