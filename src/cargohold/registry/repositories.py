"""``RepositoryAdmin``: creating, changing and deleting repositories and their proxies, as the management
API, the CLI and the web UI do (docs/architecture.md).

The values are held to the one vocabulary of ``cargohold.registry.values`` (the types the config file and
the API's request models use too): ``ProxySettings`` and ``RepositorySettings`` are checked when built, and
changes with ``check_changes``; each broken value is a ``ValidationFailedError(field, reason)``. Positions
(1..n) and the hosts another repository already names are checked here. Each change is one metadata-store
transaction. A repository the config file manages refuses every change (``ManagedByConfigError``).
A proxy URL is held to the network policy (``cargohold.registry.networks``): never a denied address, and a
private one only from a global admin (``trusted``); whoever last set the URL decides whether the proxy is
approved for private addresses, which every connection then checks.
Passwords go into the store but never come out of here: a ``ProxyView`` says only whether one is set.
Views carry their ETag; every change takes the ``If-Match`` the caller read (``cargohold.registry.etags``).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cargohold.errors import NameUnknownError, ProxyUnknownError, ValidationFailedError
from cargohold.metadata.base import RepositoryStore
from cargohold.models import Proxy, ProxyChanges, Repository, RepositoryChanges, Visibility
from cargohold.registry.accounting import RepositoryStorage
from cargohold.registry.etags import expected_revision, proxy_etag, repository_etag
from cargohold.registry.networks import NetworkPolicy, check_proxy_url
from cargohold.registry.values import (
    ProxyFields,
    ProxySettings,
    RepositoryFields,
    RepositorySettings,
    check_changes,
)
from cargohold.registry.warnings import repository_warnings

__all__ = [
    "ProxyChanges",
    "ProxySettings",
    "ProxyView",
    "RepositoryAdmin",
    "RepositoryChanges",
    "RepositorySettings",
    "RepositoryView",
    "proxy_from_settings",
    "repository_from_settings",
]


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
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    private_networks_approved: bool = False
    """A global admin (or the config file) set the URL: it may lead to loopback or private addresses."""
    answer_timeout_ms: int = 5000
    etag: str = ""
    """For the ``ETag`` header (``cargohold.registry.etags``); not part of the JSON body."""

    @classmethod
    def of(cls, proxy: Proxy, repository: Repository | None = None) -> ProxyView:
        return cls(
            name=proxy.name,
            url=proxy.url,
            username=proxy.username,
            password_set=proxy.password is not None,
            ssl_validation=proxy.ssl_validation,
            connection_timeout_ms=proxy.connection_timeout_ms,
            active=proxy.active,
            priority=proxy.priority,
            include=proxy.include,
            exclude=proxy.exclude,
            private_networks_approved=proxy.private_networks_approved,
            answer_timeout_ms=proxy.answer_timeout_ms,
            etag=proxy_etag(repository, proxy) if repository is not None else "",
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
    max_cached_bytes: int = 0
    evict_unused_after_days: int = 0
    pins: tuple[str, ...] = ()
    storage: RepositoryStorage | None = None
    """Bytes held, where the caller asked for them (``cargohold.registry.accounting``)."""
    warnings: tuple[str, ...] = ()
    """What is allowed but risky (``cargohold.registry.warnings``)."""
    etag: str = ""
    """For the ``ETag`` header (``cargohold.registry.etags``); not part of the JSON body."""

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
            proxies=tuple(ProxyView.of(proxy, repository) for proxy in proxies),
            max_cached_bytes=repository.max_cached_bytes,
            evict_unused_after_days=repository.evict_unused_after_days,
            pins=repository.pins,
            warnings=repository_warnings(repository, proxies),
            etag=repository_etag(repository),
        )


class RepositoryAdmin:
    """The management operations on repositories and proxies. ``on_change(repository_id)`` (optional) is
    called after a repository or its proxies changed (created, edited, deleted), e.g. to refresh the
    request path's directory and forget their health state."""

    def __init__(
        self,
        metadata: RepositoryStore,
        on_change: Callable[[int], None] | None = None,
        *,
        policy: NetworkPolicy | None = None,
    ) -> None:
        self._metadata = metadata
        self._on_change = on_change
        self._policy = policy

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
        self, settings: RepositoryFields, proxies: Sequence[ProxyFields] = (), *, trusted: bool = False
    ) -> RepositoryView:
        """RepositoryExistsError for a name in use (or a proxy name given twice). ``trusted``: the caller is a
        global admin (see ``add_proxy``)."""
        await self._check_hosts_free(tuple(settings.hosts), settings.name)
        repository = repository_from_settings(settings)
        checked = [await self._target(proxy_from_settings(proxy), trusted) for proxy in proxies]
        created = await self._metadata.create_repository(repository, checked)
        self._changed(created)
        return RepositoryView.of(created, await self._metadata.list_proxies(_id(created)))

    async def update(
        self, name: str, changes: RepositoryChanges, if_match: str | None = None
    ) -> RepositoryView:
        """``if_match``: the ETag read before (PreconditionFailedError when it changed meanwhile)."""
        checked = check_changes(changes)
        hosts = checked.hosts
        if hosts is not None:
            await self._check_hosts_free(hosts, name)
        expect = await self._expect(name, if_match)
        changed = await self._metadata.change_repository(name, checked, expect_revision=expect)
        self._changed(changed)
        return RepositoryView.of(changed, await self._metadata.list_proxies(_id(changed)))

    async def delete(self, name: str, if_match: str | None = None) -> None:
        """Removes the repository with its local and cached content records (blob bytes are left to gc)."""
        repository = await self._repository(name)
        expect = expected_revision(if_match, repository)
        await self._metadata.delete_unmanaged_repository(name, expect_revision=expect)
        self._changed(repository)

    # --- proxies -------------------------------------------------------------------------------------

    async def add_proxy(
        self,
        repository: str,
        proxy: ProxyFields,
        position: int | None = None,
        if_match: str | None = None,
        *,
        trusted: bool = False,
    ) -> ProxyView:
        """``trusted``: the caller is a global admin, so the URL may lead to private addresses (and the proxy
        is marked approved for them); nobody may save one that leads to a denied address."""
        checked = await self._target(proxy_from_settings(proxy), trusted)
        if position is not None:
            _position(position)
        expect = await self._expect(repository, if_match)
        added = await self._metadata.add_proxy(repository, checked, position, expect_revision=expect)
        return ProxyView.of(added, await self._changed_by_name(repository))

    async def update_proxy(
        self,
        repository: str,
        proxy: str,
        changes: ProxyChanges,
        if_match: str | None = None,
        *,
        trusted: bool = False,
    ) -> ProxyView:
        """ProxyUnknownError; RepositoryExistsError when renamed to a name in use; PreconditionFailedError
        when ``if_match`` (the proxy's or the repository's ETag) names an older version. A ``url`` is checked
        like an added one: a global admin who saves a URL (even the same one) approves it for private
        addresses; anyone else who changes it withdraws the approval; other changes leave it as it is."""
        checked = _proxy_changes(changes)
        if checked.url is not None and (trusted or checked.url != await self._current_url(repository, proxy)):
            if self._policy is not None:
                await check_proxy_url(self._policy, checked.url, approved=trusted)
            checked = dataclasses.replace(checked, private_networks_approved=trusted)
        expect = await self._expect(repository, if_match, proxy)
        updated = await self._metadata.update_proxy(repository, proxy, checked, expect_revision=expect)
        return ProxyView.of(updated, await self._changed_by_name(repository))

    async def remove_proxy(self, repository: str, proxy: str, if_match: str | None = None) -> None:
        expect = await self._expect(repository, if_match, proxy)
        await self._metadata.remove_proxy(repository, proxy, expect_revision=expect)
        await self._changed_by_name(repository)

    async def move_proxy(
        self, repository: str, proxy: str, position: int, if_match: str | None = None
    ) -> builtins.list[ProxyView]:
        """The proxies in their new order; the others shift. ValidationFailedError outside 1..n."""
        _position(position)
        expect = await self._expect(repository, if_match, proxy)
        moved = await self._metadata.move_proxy(repository, proxy, position, expect_revision=expect)
        after = await self._changed_by_name(repository)
        return [ProxyView.of(p, after) for p in moved]

    async def set_active(
        self, repository: str, proxy: str, active: bool, if_match: str | None = None
    ) -> ProxyView:
        return await self.update_proxy(repository, proxy, ProxyChanges(active=active), if_match)

    # --- helpers -------------------------------------------------------------------------------------

    async def _current_url(self, repository: str, proxy: str) -> str | None:
        for candidate in await self._metadata.list_proxies(_id(await self._repository(repository))):
            if candidate.name == proxy:
                return candidate.url
        return None

    async def _target(self, proxy: Proxy, trusted: bool) -> Proxy:
        """``proxy`` whose URL passed the network policy, approved for private addresses when ``trusted``."""
        if self._policy is not None:
            await check_proxy_url(self._policy, proxy.url, approved=trusted)
        return dataclasses.replace(proxy, private_networks_approved=trusted)

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

    async def _changed_by_name(self, name: str) -> Repository | None:
        """The repository as it is after a change (None: gone), after telling ``on_change``."""
        repository = await self._metadata.get_repository(name)
        if repository is not None:
            self._changed(repository)
        return repository

    async def _expect(self, name: str, if_match: str | None, proxy: str | None = None) -> int | None:
        """The revision an ``If-Match`` expects (None: no condition); the store checks it under its lock."""
        if if_match is None:
            return None
        repository = await self._repository(name)
        found = None
        if proxy is not None:
            found = next(
                (p for p in await self._metadata.list_proxies(_id(repository)) if p.name == proxy), None
            )
            if found is None:
                raise ProxyUnknownError(f"repository {name!r} has no proxy {proxy!r}")
        return expected_revision(if_match, repository, found)


# --- validation (shared with the proxy probe, which tests unsaved settings) -----------------------------


def proxy_from_settings(settings: ProxyFields) -> Proxy:
    """The ``Proxy`` entity of checked ``settings`` (an empty username or password counts as none)."""
    password = settings.password.get_secret_value() if settings.password is not None else None
    values = settings.model_dump(
        include=set(ProxyFields.model_fields) - {"username", "password", "include", "exclude"}
    )
    return Proxy(
        **values,
        username=settings.username or None,
        password=password or None,
        include=tuple(settings.include),
        exclude=tuple(settings.exclude),
    )


def repository_from_settings(settings: RepositoryFields, *, managed_by_config: bool = False) -> Repository:
    """The ``Repository`` entity of checked ``settings``."""
    values = settings.model_dump(include=set(RepositoryFields.model_fields) - {"hosts", "pins"})
    values["max_cached_bytes"] = int(settings.max_cached_bytes)
    return Repository(
        **values, hosts=tuple(settings.hosts), pins=tuple(settings.pins), managed_by_config=managed_by_config
    )


def _proxy_changes(changes: ProxyChanges) -> ProxyChanges:
    # the approval for private addresses follows who sets the URL (update_proxy), never what a caller sends
    checked = dataclasses.replace(check_changes(changes), private_networks_approved=None)
    if not isinstance(checked.clear_password, bool):
        raise ValidationFailedError("clear_password", "must be true or false")
    if checked.password == "":
        checked = dataclasses.replace(checked, password=None)
    if checked.password is not None and checked.clear_password:
        raise ValidationFailedError("clear_password", "give a new password or clear it, not both")
    return checked


def _id(repository: Repository) -> int:
    assert repository.id is not None, "the store returns repositories with their id"
    return repository.id


def _position(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailedError("position", "must be a whole number")
    if value < 1:
        raise ValidationFailedError("position", f"positions start at 1, got {value}")
    return value
