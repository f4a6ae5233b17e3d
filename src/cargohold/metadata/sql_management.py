"""Changing repositories and their proxies one at a time, as the management API does, in the SQL
metadata store: edit a repository's settings, delete it, add a proxy at a position, edit, rename, remove,
move and (de)activate one. ``SqlRepositoryStore`` runs each of these functions as one write transaction
of its own and seals the passwords they write (they store what they are given).

Every change first locks the repository's row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), so concurrent changes to one proxy list happen one after
the other and priorities stay 1..n without gaps or duplicates. A repository managed by the config file
refuses every change here (``ManagedByConfigError``): ``sync_declared_repositories`` is the only writer of
those. Every change adds one to the repository's ``revision`` (its ETag), and one given an expected revision
(If-Match) is refused when it differs, under the same lock (``PreconditionFailedError``), so two admins
cannot overwrite each other unseen. A renamed proxy takes its cached content records and usage counters
with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cargohold.errors import (
    ManagedByConfigError,
    NameUnknownError,
    PreconditionFailedError,
    ProxyUnknownError,
    RepositoryExistsError,
    ValidationFailedError,
)
from cargohold.metadata import rows
from cargohold.metadata.schema import blob_links, manifests, proxies, repositories, stats_counters, tags
from cargohold.metadata.sql_repository_statements import load_repository, update_settings
from cargohold.models import Proxy, ProxyChanges, Repository, RepositoryChanges, Visibility


async def change_repository(
    connection: AsyncConnection, name: str, changes: RepositoryChanges, expect_revision: int | None = None
) -> Repository:
    """Apply the settings in ``changes`` (None: unchanged); setting ``default`` clears it elsewhere."""
    row = await _lock_repository(connection, name, expect_revision)
    current = rows.repository(row, ())
    hosts_now = (await load_repository(connection, row.id)).hosts
    changed = Repository(
        name=name,
        visibility=Visibility(changes.visibility or current.visibility),
        default=current.default if changes.default is None else changes.default,
        hosts=hosts_now if changes.hosts is None else tuple(changes.hosts),
        tag_ttl_seconds=(
            current.tag_ttl_seconds if changes.tag_ttl_seconds is None else changes.tag_ttl_seconds
        ),
        max_cached_bytes=_given(changes.max_cached_bytes, current.max_cached_bytes),
        evict_unused_after_days=_given(changes.evict_unused_after_days, current.evict_unused_after_days),
        pins=_given(changes.pins, current.pins),
    )
    await update_settings(connection, row.id, changed)
    return await load_repository(connection, row.id)


_T = TypeVar("_T")


def _given(change: _T | None, current: _T) -> _T:
    return current if change is None else change


async def delete_unmanaged_repository(
    connection: AsyncConnection, name: str, expect_revision: int | None = None
) -> None:
    """Remove a repository with everything of it (the rows cascade)."""
    row = await _lock_repository(connection, name, expect_revision)
    await connection.execute(delete(repositories).where(repositories.c.id == row.id))


async def add_proxy(
    connection: AsyncConnection,
    repository: str,
    proxy: Proxy,
    position: int | None,
    expect_revision: int | None = None,
) -> Proxy:
    """Add ``proxy`` (its password as it is to be stored) at ``position``; the proxy as stored."""
    repository_id = (await _lock_repository(connection, repository, expect_revision)).id
    current = await _proxy_rows(connection, repository_id)
    if any(row.name == proxy.name for row in current):
        raise RepositoryExistsError(f"repository {repository!r} already has a proxy {proxy.name!r}")
    place = len(current) + 1 if position is None else position
    _check_position(place, len(current) + 1)
    try:
        result = await connection.execute(
            proxies.insert()
            .values(repository_id=repository_id, **rows.proxy_values(proxy, place))
            .returning(proxies.c.id)
        )
    except IntegrityError as exc:  # cannot happen under the lock; kept as a safety net
        raise RepositoryExistsError(f"proxy {proxy.name!r} already exists") from exc
    new_id = int(result.scalar_one())
    order = [row.id for row in current]
    order.insert(place - 1, new_id)
    await _renumber(connection, order, {row.id: row.priority for row in current})
    return await _load_proxy(connection, new_id)


async def update_proxy(
    connection: AsyncConnection,
    repository: str,
    name: str,
    changes: ProxyChanges,
    expect_revision: int | None = None,
) -> Proxy:
    """Apply ``changes`` (a password as it is to be stored); the proxy as stored."""
    repository_id = (await _lock_repository(connection, repository, expect_revision)).id
    row = await _find_proxy(connection, repository_id, repository, name)
    values = _proxy_changes(changes)
    renamed = changes.name is not None and changes.name != name
    if renamed:
        taken = await connection.scalar(
            select(proxies.c.id).where(
                proxies.c.repository_id == repository_id, proxies.c.name == changes.name
            )
        )
        if taken is not None:
            raise RepositoryExistsError(f"repository {repository!r} already has a proxy {changes.name!r}")
    if values:
        await connection.execute(update(proxies).where(proxies.c.id == row.id).values(**values))
    if renamed:
        await _rename_references(connection, repository_id, name, str(changes.name))
    return await _load_proxy(connection, row.id)


async def remove_proxy(
    connection: AsyncConnection, repository: str, name: str, expect_revision: int | None = None
) -> None:
    """Remove a proxy and its counters; the others move up."""
    repository_id = (await _lock_repository(connection, repository, expect_revision)).id
    row = await _find_proxy(connection, repository_id, repository, name)
    await connection.execute(delete(proxies).where(proxies.c.id == row.id))
    await connection.execute(
        delete(stats_counters).where(
            stats_counters.c.repository_id == repository_id, stats_counters.c.proxy_name == name
        )
    )
    current = await _proxy_rows(connection, repository_id)
    await _renumber(connection, [r.id for r in current], {r.id: r.priority for r in current})


async def move_proxy(
    connection: AsyncConnection,
    repository: str,
    name: str,
    position: int,
    expect_revision: int | None = None,
) -> list[Proxy]:
    """Move a proxy to ``position``; the proxies as stored, in their new order."""
    repository_id = (await _lock_repository(connection, repository, expect_revision)).id
    current = await _proxy_rows(connection, repository_id)
    moving = next((row for row in current if row.name == name), None)
    if moving is None:
        raise ProxyUnknownError(f"repository {repository!r} has no proxy {name!r}")
    _check_position(position, len(current))
    order = [row.id for row in current if row.id != moving.id]
    order.insert(position - 1, moving.id)
    await _renumber(connection, order, {row.id: row.priority for row in current})
    result = await connection.execute(
        select(proxies).where(proxies.c.repository_id == repository_id).order_by(proxies.c.priority)
    )
    return [rows.proxy(row) for row in result]


# --- statements (inside the caller's transaction) ------------------------------------------------------


async def _lock_repository(
    connection: AsyncConnection, name: str, expect_revision: int | None = None
) -> Row[Any]:
    """The repository's row, locked until the transaction ends; refuses one managed by the config, and one
    whose revision is not ``expect_revision`` (given: the If-Match of the request). The change that follows
    counts: the revision goes up by one."""
    row = (
        await connection.execute(select(repositories).where(repositories.c.name == name).with_for_update())
    ).first()
    if row is None:
        raise NameUnknownError(f"repository {name!r} unknown")
    if row.managed_by_config:
        raise ManagedByConfigError(
            f"repository {name!r} is managed by the configuration file; change it there"
        )
    if expect_revision is not None and row.revision != expect_revision:
        raise PreconditionFailedError(
            f"repository {name!r} or its proxies changed since they were read: read them again"
        )
    await connection.execute(
        update(repositories).where(repositories.c.id == row.id).values(revision=repositories.c.revision + 1)
    )
    return row


async def _proxy_rows(connection: AsyncConnection, repository_id: int) -> Sequence[Any]:
    """(id, name, priority) of the repository's proxies in their current order."""
    result = await connection.execute(
        select(proxies.c.id, proxies.c.name, proxies.c.priority)
        .where(proxies.c.repository_id == repository_id)
        .order_by(proxies.c.priority, proxies.c.id)
    )
    return result.all()


async def _find_proxy(
    connection: AsyncConnection, repository_id: int, repository: str, name: str
) -> Row[Any]:
    row = (
        await connection.execute(
            select(proxies.c.id).where(proxies.c.repository_id == repository_id, proxies.c.name == name)
        )
    ).first()
    if row is None:
        raise ProxyUnknownError(f"repository {repository!r} has no proxy {name!r}")
    return row


async def _load_proxy(connection: AsyncConnection, proxy_id: int) -> Proxy:
    row = (await connection.execute(select(proxies).where(proxies.c.id == proxy_id))).one()
    return rows.proxy(row)


def _check_position(position: int, highest: int) -> None:
    if not 1 <= position <= highest:
        raise ValidationFailedError("position", f"must be between 1 and {highest}, got {position}")


async def _renumber(connection: AsyncConnection, order: Sequence[int], priorities: dict[int, int]) -> None:
    """Give the proxies in ``order`` priorities 1..n, writing only the rows whose priority changes."""
    for priority, proxy_id in enumerate(order, start=1):
        if priorities.get(proxy_id) != priority:
            await connection.execute(
                update(proxies).where(proxies.c.id == proxy_id).values(priority=priority)
            )


def _proxy_changes(changes: ProxyChanges) -> dict[str, Any]:
    """The columns a change writes: None leaves a field alone; an empty username removes it."""
    values: dict[str, Any] = {}
    for field in (
        "name",
        "url",
        "ssl_validation",
        "connection_timeout_ms",
        "answer_timeout_ms",
        "active",
        "private_networks_approved",
    ):
        value = getattr(changes, field)
        if value is not None:
            values[field] = value
    if changes.include is not None:
        values["name_include"] = list(changes.include)
    if changes.exclude is not None:
        values["name_exclude"] = list(changes.exclude)
    if changes.username is not None:
        values["username"] = changes.username or None
    if changes.clear_password:
        values["password"] = None
    elif changes.password is not None:
        values["password"] = changes.password
    return values


async def _rename_references(connection: AsyncConnection, repository_id: int, old: str, new: str) -> None:
    """Cached content and counters recorded under a proxy's old name follow it to the new one."""
    for table in (manifests, tags, blob_links):
        await connection.execute(
            update(table)
            .where(table.c.repository_id == repository_id, table.c.proxy_name == old)
            .values(proxy_name=new)
        )
    counters = (stats_counters.c.repository_id == repository_id,)
    # Counters a late flush left under the new name belong to a proxy that is gone.
    await connection.execute(delete(stats_counters).where(*counters, stats_counters.c.proxy_name == new))
    await connection.execute(
        update(stats_counters).where(*counters, stats_counters.c.proxy_name == old).values(proxy_name=new)
    )
