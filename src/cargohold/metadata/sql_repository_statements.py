"""Statements on repositories, their hosts and their proxies, shared by the SQL repository store
(``sql_repositories.py``) and its management changes (``sql_management.py``).

Each runs inside the caller's transaction and writes passwords exactly as given: sealing them is the
store's job. A repository's hosts are kept lower-case in list order; its proxies in list order as
priorities 1..n.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cargohold.errors import RepositoryExistsError
from cargohold.metadata import rows
from cargohold.metadata.schema import proxies, repositories, repository_hosts
from cargohold.models import Proxy, Repository


def check_proxy_names(repository: str, repository_proxies: Iterable[Proxy]) -> None:
    """RepositoryExistsError when two of the proxies share a name."""
    names = [proxy.name for proxy in repository_proxies]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RepositoryExistsError(f"proxy name used twice in repository {repository!r}: {', '.join(twice)}")


async def find_repository_id(connection: AsyncConnection, name: str) -> int | None:
    """The id of the repository with this name, or None."""
    found: int | None = await connection.scalar(select(repositories.c.id).where(repositories.c.name == name))
    return found


async def clear_default(connection: AsyncConnection, keep: int | None = None) -> None:
    """No repository but ``keep`` is the default any more."""
    condition: ColumnElement[bool] = repositories.c.is_default.is_(True)
    if keep is not None:
        condition = condition & (repositories.c.id != keep)
    await connection.execute(update(repositories).where(condition).values(is_default=False))


async def update_settings(connection: AsyncConnection, repository_id: int, repository: Repository) -> None:
    """Write a repository's settings and hosts (a new default clears the old one)."""
    if repository.default:
        await clear_default(connection, keep=repository_id)
    await connection.execute(
        update(repositories)
        .where(repositories.c.id == repository_id)
        .values(**rows.repository_values(repository))
    )
    await replace_hosts(connection, repository_id, repository.hosts)


async def replace_hosts(connection: AsyncConnection, repository_id: int, hosts: Iterable[str]) -> None:
    await connection.execute(
        delete(repository_hosts).where(repository_hosts.c.repository_id == repository_id)
    )
    values = [
        {"repository_id": repository_id, "position": position, "host": host}
        for position, host in enumerate(rows.normal_hosts(hosts))
    ]
    if values:
        await connection.execute(repository_hosts.insert(), values)


async def replace_proxies(
    connection: AsyncConnection, repository_id: int, repository_proxies: Sequence[Proxy]
) -> None:
    await connection.execute(delete(proxies).where(proxies.c.repository_id == repository_id))
    values = [
        {"repository_id": repository_id, **rows.proxy_values(proxy, priority)}
        for priority, proxy in enumerate(repository_proxies, start=1)
    ]
    if values:
        await connection.execute(proxies.insert(), values)


async def sync_proxies(connection: AsyncConnection, repository_id: int, declared: Sequence[Proxy]) -> None:
    """Make the proxy list exactly ``declared``, keeping the ids of proxies whose name stays."""
    result = await connection.execute(
        select(proxies.c.name, proxies.c.id).where(proxies.c.repository_id == repository_id)
    )
    existing: dict[str, int] = {row.name: row.id for row in result}
    names = [proxy.name for proxy in declared]
    gone = [name for name in existing if name not in names]
    if gone:
        await connection.execute(
            delete(proxies).where(proxies.c.repository_id == repository_id, proxies.c.name.in_(gone))
        )
    for priority, proxy in enumerate(declared, start=1):
        values = rows.proxy_values(proxy, priority)
        if proxy.name in existing:
            await connection.execute(
                update(proxies).where(proxies.c.id == existing[proxy.name]).values(**values)
            )
        else:
            await connection.execute(proxies.insert().values(repository_id=repository_id, **values))


async def load_repository(connection: AsyncConnection, repository_id: int) -> Repository:
    return (await load_repositories(connection, repositories.c.id == repository_id))[0]


async def load_repositories(connection: AsyncConnection, *conditions: Any) -> list[Repository]:
    """Repositories matching ``conditions``, by name, with their hosts."""
    found = (
        await connection.execute(select(repositories).where(*conditions).order_by(repositories.c.name))
    ).all()
    if not found:
        return []
    hosts: dict[int, list[str]] = {row.id: [] for row in found}
    host_rows = await connection.execute(
        select(repository_hosts.c.repository_id, repository_hosts.c.host)
        .where(repository_hosts.c.repository_id.in_(list(hosts)))
        .order_by(repository_hosts.c.repository_id, repository_hosts.c.position)
    )
    for host_row in host_rows:
        hosts[host_row.repository_id].append(host_row.host)
    return [rows.repository(row, hosts[row.id]) for row in found]
