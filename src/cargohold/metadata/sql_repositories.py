"""Repositories, their hosts and their proxies in the SQL metadata store: ``SqlRepositoryStore``.

At most one repository is the default: setting it on one clears it on the others in the same
transaction, and a partial unique index makes the database refuse a second one. A repository's proxies
are kept in list order as priorities 1..n; syncing a declared list updates proxies by name (their ids
stay), adds the new ones and removes the rest. The management API's one-at-a-time changes are in
``sql_management.py``, the statements both share in ``sql_repository_statements.py``; each method here is
one transaction. Given a ``SecretCipher``, proxy passwords are encrypted on every write and decrypted on
every read, here and nowhere else (``sealing.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

from sqlalchemy import ColumnElement, delete, select, text, update
from sqlalchemy.exc import IntegrityError

from cargohold.errors import ConfigError, NameUnknownError, RepositoryExistsError
from cargohold.metadata import rows, sql_management
from cargohold.metadata import sql_repository_statements as statements
from cargohold.metadata.database import Database
from cargohold.metadata.schema import proxies, repositories, repository_hosts
from cargohold.metadata.sealing import SecretCipher, opened, seal, seal_stored_passwords, sealed
from cargohold.models import Proxy, ProxyChanges, Repository, RepositoryChanges

SYNC_LOCK_KEY: Final = 0x63617267_73796E63  # "cargsync"
"""The PostgreSQL advisory lock that serialises syncing the declared repositories between processes."""


class SqlRepositoryStore:
    """``RepositoryStore`` on a ``Database``; proxy passwords sealed with ``secrets`` when given."""

    def __init__(self, database: Database, secrets: SecretCipher | None = None) -> None:
        self._database = database
        self._secrets = secrets

    async def seal_stored_passwords(self) -> int:
        """Encrypt proxy passwords stored in plaintext (by older versions); ConfigError when a stored one
        does not decrypt with this store's key. Returns how many were encrypted; 0 without a cipher."""
        if self._secrets is None:
            return 0
        async with self._database.write() as connection:
            return await seal_stored_passwords(connection, self._secrets)

    # --- repositories ------------------------------------------------------------------------------

    async def create_repository(self, repository: Repository, proxies: Sequence[Proxy] = ()) -> Repository:
        statements.check_proxy_names(repository.name, proxies)
        async with self._database.write() as connection:
            if await statements.find_repository_id(connection, repository.name) is not None:
                raise RepositoryExistsError(f"repository {repository.name!r} already exists")
            if repository.default:
                await statements.clear_default(connection)
            try:
                result = await connection.execute(
                    repositories.insert()
                    .values(name=repository.name, created_at=rows.now(), **rows.repository_values(repository))
                    .returning(repositories.c.id)
                )
            except IntegrityError as exc:  # a concurrent create of the same name won
                raise RepositoryExistsError(f"repository {repository.name!r} already exists") from exc
            repository_id = int(result.scalar_one())
            await statements.replace_hosts(connection, repository_id, repository.hosts)
            await statements.replace_proxies(connection, repository_id, sealed(self._secrets, proxies))
            return await statements.load_repository(connection, repository_id)

    async def get_repository(self, name: str) -> Repository | None:
        async with self._database.read() as connection:
            found = await statements.load_repositories(connection, repositories.c.name == name)
        return found[0] if found else None

    async def repository_for_host(self, host: str) -> Repository | None:
        """The repository naming ``host``; when several do, the first by name."""
        owners = select(repository_hosts.c.repository_id).where(
            repository_hosts.c.host == host.strip().lower()
        )
        async with self._database.read() as connection:
            found = await statements.load_repositories(connection, repositories.c.id.in_(owners))
        return found[0] if found else None

    async def list_repositories(self) -> list[Repository]:
        async with self._database.read() as connection:
            return await statements.load_repositories(connection)

    async def update_repository(self, repository: Repository) -> Repository:
        """Raises NameUnknownError when no repository has this name."""
        async with self._database.write() as connection:
            repository_id = await statements.find_repository_id(connection, repository.name)
            if repository_id is None:
                raise NameUnknownError(f"repository {repository.name!r} unknown")
            await statements.update_settings(connection, repository_id, repository)
            return await statements.load_repository(connection, repository_id)

    async def delete_repository(self, name: str) -> bool:
        # Proxies, hosts, links, manifests (with tags and references) and uploads cascade.
        async with self._database.write() as connection:
            result = await connection.execute(delete(repositories).where(repositories.c.name == name))
        return result.rowcount > 0

    async def sync_declared_repositories(
        self, declared: Sequence[tuple[Repository, Sequence[Proxy]]]
    ) -> None:
        """Also unmarks repositories no longer declared: they stay, with their content, managed by the API.
        Raises ConfigError for a name declared twice or more than one default."""
        names = [repository.name for repository, _ in declared]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ConfigError(f"repositories declared more than once: {', '.join(twice)}")
        defaults = [repository.name for repository, _ in declared if repository.default]
        if len(defaults) > 1:
            raise ConfigError(f"more than one default repository declared: {', '.join(defaults)}")
        for repository, repository_proxies in declared:
            statements.check_proxy_names(repository.name, repository_proxies)
        async with self._database.write() as connection:
            if self._database.postgres:
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})
            undeclared: ColumnElement[bool] = repositories.c.managed_by_config.is_(True)
            if names:
                undeclared = undeclared & repositories.c.name.not_in(names)
            await connection.execute(update(repositories).where(undeclared).values(managed_by_config=False))
            others = await statements.load_repositories(connection, repositories.c.name.not_in(names))
            collisions = _collisions([repository for repository, _ in declared], others)
            if collisions:
                raise ConfigError(
                    "the config file's repositories collide with repositories managed through the API: "
                    + "; ".join(collisions)
                )
            for repository, repository_proxies in declared:
                managed = dataclasses.replace(repository, managed_by_config=True, id=None, created_at=None)
                repository_id = await statements.find_repository_id(connection, repository.name)
                if repository_id is None:
                    if managed.default:
                        await statements.clear_default(connection)
                    result = await connection.execute(
                        repositories.insert()
                        .values(name=managed.name, created_at=rows.now(), **rows.repository_values(managed))
                        .returning(repositories.c.id)
                    )
                    repository_id = int(result.scalar_one())
                    await statements.replace_hosts(connection, repository_id, managed.hosts)
                else:
                    await statements.update_settings(connection, repository_id, managed)
                await statements.sync_proxies(
                    connection, repository_id, sealed(self._secrets, repository_proxies)
                )

    async def list_proxies(self, repository_id: int) -> list[Proxy]:
        query = (
            select(proxies)
            .where(proxies.c.repository_id == repository_id)
            .order_by(proxies.c.priority, proxies.c.id)
        )
        async with self._database.read() as connection:
            result = await connection.execute(query)
            return [opened(self._secrets, rows.proxy(row)) for row in result]

    # --- management: one change at a time (sql_management.py) ------------------------------------------

    async def change_repository(
        self, name: str, changes: RepositoryChanges, *, expect_revision: int | None = None
    ) -> Repository:
        async with self._database.write() as connection:
            return await sql_management.change_repository(connection, name, changes, expect_revision)

    async def delete_unmanaged_repository(self, name: str, *, expect_revision: int | None = None) -> None:
        async with self._database.write() as connection:
            await sql_management.delete_unmanaged_repository(connection, name, expect_revision)

    async def add_proxy(
        self,
        repository: str,
        proxy: Proxy,
        position: int | None = None,
        *,
        expect_revision: int | None = None,
    ) -> Proxy:
        stored = dataclasses.replace(proxy, password=seal(self._secrets, proxy.password))
        async with self._database.write() as connection:
            added = await sql_management.add_proxy(connection, repository, stored, position, expect_revision)
            return opened(self._secrets, added)

    async def update_proxy(
        self, repository: str, name: str, changes: ProxyChanges, *, expect_revision: int | None = None
    ) -> Proxy:
        stored = dataclasses.replace(changes, password=seal(self._secrets, changes.password))
        async with self._database.write() as connection:
            updated = await sql_management.update_proxy(connection, repository, name, stored, expect_revision)
            return opened(self._secrets, updated)

    async def remove_proxy(self, repository: str, name: str, *, expect_revision: int | None = None) -> None:
        async with self._database.write() as connection:
            await sql_management.remove_proxy(connection, repository, name, expect_revision)

    async def move_proxy(
        self, repository: str, name: str, position: int, *, expect_revision: int | None = None
    ) -> list[Proxy]:
        async with self._database.write() as connection:
            moved = await sql_management.move_proxy(connection, repository, name, position, expect_revision)
            return [opened(self._secrets, proxy) for proxy in moved]


def _collisions(declared: Sequence[Repository], others: Sequence[Repository]) -> list[str]:
    """Hosts a declared repository shares with one the database holds: lookups by host would silently go to
    one of them. (A declared ``default`` is not a collision: it moves the default, as the file says.)"""
    found = []
    for repository in declared:
        for other in others:
            shared = sorted(
                {host.lower() for host in repository.hosts} & {host.lower() for host in other.hosts}
            )
            if shared:
                found.append(f"{repository.name!r} and {other.name!r} both name host {', '.join(shared)}")
    return found
