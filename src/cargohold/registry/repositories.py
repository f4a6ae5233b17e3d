"""``RepositoryAdmin``: creating, changing and deleting repositories and their proxies, as the management
API, the CLI and the web UI do (docs/architecture.md).

It owns the rules about the values (name grammars, ``http(s)://host[:port]`` URLs without credentials or a
query, a connection timeout of 1 to 600000 ms, a TTL that is not negative, hosts, positions 1..n) and turns
each broken one into ``ValidationFailedError(field, reason)``; the checks are the ones the config file goes
through (``cargohold.models`` and ``cargohold.registry.addresses``). Each change is one metadata-store
transaction. A repository the config file manages refuses every change (``ManagedByConfigError``).
Passwords go into the store but never come out of here: a ``ProxyView`` says only whether one is set.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from cargohold.errors import NameInvalidError, NameUnknownError, ValidationFailedError
from cargohold.metadata.base import RepositoryStore
from cargohold.models import (
    MAX_CONNECTION_TIMEOUT_MS,
    Proxy,
    ProxyChanges,
    Repository,
    RepositoryChanges,
    Visibility,
    validate_proxy_name,
    validate_repository_name,
)
from cargohold.registry.addresses import check_http_url, normalise_host

__all__ = [
    "ProxyChanges",
    "ProxySettings",
    "ProxyView",
    "RepositoryAdmin",
    "RepositoryChanges",
    "RepositorySettings",
    "RepositoryView",
    "proxy_from_settings",
]

MAX_TAG_TTL_SECONDS: Final = 2**31 - 1
MAX_USERNAME_CHARS: Final = 256
MAX_PASSWORD_CHARS: Final = 4096
MAX_HOSTS: Final = 64


@dataclass(frozen=True)
class ProxyView:
    """A proxy as anyone may see it: never the password."""

    name: str
    url: str
    username: str | None
    password_set: bool
    ssl_validation: bool
    connection_timeout_ms: int
    active: bool
    priority: int

    @classmethod
    def of(cls, proxy: Proxy) -> ProxyView:
        return cls(
            name=proxy.name,
            url=proxy.url,
            username=proxy.username,
            password_set=proxy.password is not None,
            ssl_validation=proxy.ssl_validation,
            connection_timeout_ms=proxy.connection_timeout_ms,
            active=proxy.active,
            priority=proxy.priority,
        )


@dataclass(frozen=True)
class RepositoryView:
    name: str
    visibility: Visibility
    default: bool
    hosts: tuple[str, ...]
    tag_ttl_seconds: int
    managed_by_config: bool
    created_at: datetime | None
    proxies: tuple[ProxyView, ...]

    @classmethod
    def of(cls, repository: Repository, proxies: Sequence[Proxy]) -> RepositoryView:
        return cls(
            name=repository.name,
            visibility=repository.visibility,
            default=repository.default,
            hosts=repository.hosts,
            tag_ttl_seconds=repository.tag_ttl_seconds,
            managed_by_config=repository.managed_by_config,
            created_at=repository.created_at,
            proxies=tuple(ProxyView.of(proxy) for proxy in proxies),
        )


@dataclass(frozen=True)
class RepositorySettings:
    """A repository to create; every field is validated by ``RepositoryAdmin``."""

    name: str
    visibility: Visibility = Visibility.PUBLIC
    default: bool = False
    hosts: tuple[str, ...] = ()
    tag_ttl_seconds: int = 300


@dataclass(frozen=True)
class ProxySettings:
    """A proxy to add (or to test before saving it). An empty password counts as none."""

    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_validation: bool = True
    connection_timeout_ms: int = 5000
    active: bool = True


class RepositoryAdmin:
    """The management operations on repositories and proxies. ``on_change(repository_id)`` (optional) is
    called after a repository or its proxies changed (created, edited, deleted), e.g. to refresh the
    request path's directory and forget their health state."""

    def __init__(self, metadata: RepositoryStore, on_change: Callable[[int], None] | None = None) -> None:
        self._metadata = metadata
        self._on_change = on_change

    # --- repositories --------------------------------------------------------------------------------

    async def list(self) -> builtins.list[RepositoryView]:
        return [
            RepositoryView.of(repository, await self._metadata.list_proxies(_id(repository)))
            for repository in await self._metadata.list_repositories()
        ]

    async def get(self, name: str) -> RepositoryView:
        """NameUnknownError when there is no such repository."""
        repository = await self._repository(name)
        return RepositoryView.of(repository, await self._metadata.list_proxies(_id(repository)))

    async def create(
        self, settings: RepositorySettings, proxies: Sequence[ProxySettings] = ()
    ) -> RepositoryView:
        """RepositoryExistsError for a name in use (or a proxy name given twice)."""
        name = _repository_name(settings.name)
        hosts = _hosts(settings.hosts)
        await self._check_hosts_free(hosts, name)
        repository = Repository(
            name=name,
            visibility=_visibility(settings.visibility),
            default=_flag("default", settings.default),
            hosts=hosts,
            tag_ttl_seconds=_tag_ttl(settings.tag_ttl_seconds),
        )
        checked = [proxy_from_settings(proxy) for proxy in proxies]
        created = await self._metadata.create_repository(repository, checked)
        self._changed(created)
        return RepositoryView.of(created, await self._metadata.list_proxies(_id(created)))

    async def update(self, name: str, changes: RepositoryChanges) -> RepositoryView:
        hosts = None if changes.hosts is None else _hosts(changes.hosts)
        checked = RepositoryChanges(
            visibility=None if changes.visibility is None else _visibility(changes.visibility),
            default=None if changes.default is None else _flag("default", changes.default),
            hosts=hosts,
            tag_ttl_seconds=None if changes.tag_ttl_seconds is None else _tag_ttl(changes.tag_ttl_seconds),
        )
        if hosts is not None:
            await self._check_hosts_free(hosts, name)
        changed = await self._metadata.change_repository(name, checked)
        self._changed(changed)
        return RepositoryView.of(changed, await self._metadata.list_proxies(_id(changed)))

    async def delete(self, name: str) -> None:
        """Removes the repository with its local and cached content records (blob bytes are left to gc)."""
        repository = await self._repository(name)
        await self._metadata.delete_unmanaged_repository(name)
        self._changed(repository)

    # --- proxies -------------------------------------------------------------------------------------

    async def add_proxy(
        self, repository: str, proxy: ProxySettings, position: int | None = None
    ) -> ProxyView:
        checked = proxy_from_settings(proxy)
        if position is not None:
            _position(position)
        added = await self._metadata.add_proxy(repository, checked, position)
        await self._changed_by_name(repository)
        return ProxyView.of(added)

    async def update_proxy(self, repository: str, proxy: str, changes: ProxyChanges) -> ProxyView:
        """ProxyUnknownError; RepositoryExistsError when renamed to a name in use."""
        updated = await self._metadata.update_proxy(repository, proxy, _proxy_changes(changes))
        await self._changed_by_name(repository)
        return ProxyView.of(updated)

    async def remove_proxy(self, repository: str, proxy: str) -> None:
        await self._metadata.remove_proxy(repository, proxy)
        await self._changed_by_name(repository)

    async def move_proxy(self, repository: str, proxy: str, position: int) -> builtins.list[ProxyView]:
        """The proxies in their new order; the others shift. ValidationFailedError outside 1..n."""
        _position(position)
        moved = await self._metadata.move_proxy(repository, proxy, position)
        await self._changed_by_name(repository)
        return [ProxyView.of(p) for p in moved]

    async def set_active(self, repository: str, proxy: str, active: bool) -> ProxyView:
        return await self.update_proxy(repository, proxy, ProxyChanges(active=_flag("active", active)))

    # --- helpers -------------------------------------------------------------------------------------

    async def _repository(self, name: str) -> Repository:
        repository = await self._metadata.get_repository(name)
        if repository is None:
            raise NameUnknownError(f"repository {name[:80]!r} unknown")
        return repository

    async def _check_hosts_free(self, hosts: tuple[str, ...], owner: str) -> None:
        """A host selects one repository: refuse one another repository already names."""
        for host in hosts:
            other = await self._metadata.repository_for_host(host)
            if other is not None and other.name != owner:
                raise ValidationFailedError("hosts", f"{host} is already a host of repository {other.name!r}")

    def _changed(self, repository: Repository) -> None:
        if self._on_change is not None and repository.id is not None:
            self._on_change(repository.id)

    async def _changed_by_name(self, name: str) -> None:
        if self._on_change is not None:
            repository = await self._metadata.get_repository(name)
            if repository is not None:
                self._changed(repository)


# --- validation (shared with the proxy probe, which tests unsaved settings) -----------------------------


def proxy_from_settings(settings: ProxySettings) -> Proxy:
    """A validated ``Proxy`` for ``settings``; ValidationFailedError naming the first bad field."""
    return Proxy(
        name=_proxy_name(settings.name),
        url=_url(settings.url),
        username=_username(settings.username) or None,
        password=_password(settings.password) or None,
        ssl_validation=_flag("ssl_validation", settings.ssl_validation),
        connection_timeout_ms=_timeout(settings.connection_timeout_ms),
        active=_flag("active", settings.active),
    )


def _proxy_changes(changes: ProxyChanges) -> ProxyChanges:
    password = _password(changes.password) or None
    if password is not None and changes.clear_password:
        raise ValidationFailedError("clear_password", "give a new password or clear it, not both")
    return ProxyChanges(
        name=None if changes.name is None else _proxy_name(changes.name),
        url=None if changes.url is None else _url(changes.url),
        username=None if changes.username is None else _username(changes.username),
        password=password,
        ssl_validation=None
        if changes.ssl_validation is None
        else _flag("ssl_validation", changes.ssl_validation),
        connection_timeout_ms=(
            None if changes.connection_timeout_ms is None else _timeout(changes.connection_timeout_ms)
        ),
        active=None if changes.active is None else _flag("active", changes.active),
        clear_password=_flag("clear_password", changes.clear_password),
    )


def _id(repository: Repository) -> int:
    assert repository.id is not None, "the store returns repositories with their id"
    return repository.id


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationFailedError(field, "must be a string")
    return value


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailedError(field, "must be true or false")
    return value


def _integer(field: str, value: object, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailedError(field, "must be a whole number")
    if not low <= value <= high:
        raise ValidationFailedError(field, f"must be between {low} and {high}{unit}, got {value}")
    return value


def _repository_name(value: object) -> str:
    try:
        return validate_repository_name(_text("name", value))
    except NameInvalidError as exc:
        raise ValidationFailedError(
            "name",
            f"{exc.message}: use one lowercase path component of letters, digits and . _ - "
            "(at most 64 characters)",
        ) from None


def _proxy_name(value: object) -> str:
    try:
        return validate_proxy_name(_text("name", value))
    except NameInvalidError as exc:
        raise ValidationFailedError("name", exc.message) from None


def _url(value: object) -> str:
    try:
        return check_http_url(_text("url", value), allow_path=False)
    except ValueError as exc:
        raise ValidationFailedError("url", str(exc)) from None


def _visibility(value: object) -> Visibility:
    try:
        return Visibility(_text("visibility", value))
    except ValueError:
        raise ValidationFailedError("visibility", "must be public or private") from None


def _hosts(values: object) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, tuple | list):
        raise ValidationFailedError("hosts", "must be a list of host names")
    if len(values) > MAX_HOSTS:
        raise ValidationFailedError("hosts", f"at most {MAX_HOSTS} hosts")
    hosts: list[str] = []
    for value in values:
        try:
            hosts.append(normalise_host(_text("hosts", value)))
        except ValueError as exc:
            raise ValidationFailedError("hosts", str(exc)) from None
    return tuple(dict.fromkeys(hosts))


def _tag_ttl(value: object) -> int:
    return _integer("tag_ttl_seconds", value, 0, MAX_TAG_TTL_SECONDS, " seconds")


def _timeout(value: object) -> int:
    return _integer("connection_timeout_ms", value, 1, MAX_CONNECTION_TIMEOUT_MS, " ms")


def _position(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailedError("position", "must be a whole number")
    if value < 1:
        raise ValidationFailedError("position", f"positions start at 1, got {value}")
    return value


def _username(value: str | None) -> str:
    """The username, '' for none. It goes into a Basic header: no colon, no control characters."""
    if value is None:
        return ""
    username = _text("username", value).strip()
    if len(username) > MAX_USERNAME_CHARS:
        raise ValidationFailedError("username", f"at most {MAX_USERNAME_CHARS} characters")
    if ":" in username or any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise ValidationFailedError("username", "must not contain ':' or control characters")
    return username


def _password(value: str | None) -> str:
    """The password, '' for none given. Messages never repeat it."""
    if value is None:
        return ""
    password = _text("password", value)
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValidationFailedError("password", f"at most {MAX_PASSWORD_CHARS} characters")
    if any(c in password for c in "\r\n\x00"):
        raise ValidationFailedError("password", "must not contain line breaks or NUL characters")
    return password
