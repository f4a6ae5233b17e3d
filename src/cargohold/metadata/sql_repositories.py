"""Repositories, their hosts and their proxies in the SQL metadata store, and the transaction plumbing
the whole store shares (``_read``, ``_write``, the backend's ``INSERT … ON CONFLICT``).

At most one repository is the default: setting it on one clears it on the others in the same
transaction, and a partial unique index makes the database refuse a second one. A repository's proxies
are kept in list order as priorities 1..n; syncing a declared list updates proxies by name (their ids
stay), adds the new ones and removes the rest. Given a ``SecretCipher``, proxy passwords are encrypted on
every write and decrypted on every read (``sealing.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, Connection, Executable, Row, Table, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cargohold.errors import ConfigError, NameUnknownError, RepositoryExistsError
from cargohold.metadata import rows
from cargohold.metadata.engine import WRITE, inline_reader, thread_writer
from cargohold.metadata.schema import proxies, repositories, repository_hosts
from cargohold.metadata.sealing import SecretCipher, opened, seal, seal_stored_passwords, sealed
from cargohold.models import Proxy, Repository

T = TypeVar("T")

SYNC_LOCK_KEY: Final = 0x63617267_73796E63  # "cargsync"
"""The PostgreSQL advisory lock that serialises syncing the declared repositories between processes."""


class SqlRepositoryStore:
    """The repository half of ``SqlMetadataStore``."""

    def __init__(self, engine: AsyncEngine, secrets: SecretCipher | None = None) -> None:
        self._engine = engine
        self._secrets = secrets
        self._writer = engine.execution_options(**WRITE)
        self._postgres = engine.dialect.name == "postgresql"
        self._inline = inline_reader(engine.url)
        self._thread_writer = thread_writer(engine.url)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writer.begin() as connection:
            yield connection

    async def _first(self, query: Executable, parameters: dict[str, Any] | None = None) -> Row[Any] | None:
        """The first row of a point lookup (inline on SQLite: ``engine.inline_reader``)."""
        if self._inline is not None:
            try:
                with self._inline.connect() as connection:
                    return connection.execute(query, parameters).first()
            except OperationalError:  # the file is locked (WAL recovery): the threaded path waits for it
                pass
        async with self._read() as connection:
            return (await connection.execute(query, parameters)).first()

    async def _transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` as one write transaction: in one worker-thread hand-off on SQLite
        (``engine.thread_writer``), through the async engine elsewhere."""
        writer = self._thread_writer
        if writer is None:
            async with self._write() as connection:
                return await connection.run_sync(work)

        def run() -> T:
            with writer.begin() as connection:
                return work(connection)

        return await asyncio.to_thread(run)

    def _close_inline(self) -> None:
        if self._inline is not None:
            self._inline.dispose()
        if self._thread_writer is not None:
            self._thread_writer.engine.dispose()

    async def seal_stored_passwords(self) -> int:
        """Encrypt proxy passwords stored in plaintext (by older versions); ConfigError when a stored one
        does not decrypt with this store's key. Returns how many were encrypted; 0 without a cipher."""
        if self._secrets is None:
            return 0
        async with self._write() as connection:
            return await seal_stored_passwords(connection, self._secrets)

    def _seal(self, password: str | None) -> str | None:
        """A password as it is to be written into ``proxies.password``."""
        return seal(self._secrets, password)

    def _sealed(self, given: Sequence[Proxy]) -> list[Proxy]:
        """Proxies with their passwords as they are to be written (encrypted when there is a cipher)."""
        return sealed(self._secrets, given)

    def _opened(self, proxy: Proxy) -> Proxy:
        """A proxy as read, with its password decrypted."""
        return opened(self._secrets, proxy)

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT with the backend's ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    # --- repositories ------------------------------------------------------------------------------

    async def create_repository(self, repository: Repository, proxies: Sequence[Proxy] = ()) -> Repository:
        _check_proxy_names(repository.name, proxies)
        async with self._write() as connection:
            if await _repository_id(connection, repository.name) is not None:
                raise RepositoryExistsError(f"repository {repository.name!r} already exists")
            if repository.default:
                await _clear_default(connection)
            try:
                result = await connection.execute(
                    repositories.insert()
                    .values(name=repository.name, created_at=rows.now(), **rows.repository_values(repository))
                    .returning(repositories.c.id)
                )
            except IntegrityError as exc:  # a concurrent create of the same name won
                raise RepositoryExistsError(f"repository {repository.name!r} already exists") from exc
            repository_id = int(result.scalar_one())
            await _replace_hosts(connection, repository_id, repository.hosts)
            await _replace_proxies(connection, repository_id, self._sealed(proxies))
            return await _load_repository(connection, repository_id)

    async def get_repository(self, name: str) -> Repository | None:
        async with self._read() as connection:
            found = await _load_repositories(connection, repositories.c.name == name)
        return found[0] if found else None

    async def default_repository(self) -> Repository | None:
        async with self._read() as connection:
            found = await _load_repositories(connection, repositories.c.is_default.is_(True))
        return found[0] if found else None

    async def repository_for_host(self, host: str) -> Repository | None:
        """The repository naming ``host``; when several do, the first by name."""
        owners = select(repository_hosts.c.repository_id).where(
            repository_hosts.c.host == host.strip().lower()
        )
        async with self._read() as connection:
            found = await _load_repositories(connection, repositories.c.id.in_(owners))
        return found[0] if found else None

    async def list_repositories(self) -> list[Repository]:
        async with self._read() as connection:
            return await _load_repositories(connection)

    async def update_repository(self, repository: Repository) -> Repository:
        """Raises NameUnknownError when no repository has this name."""
        async with self._write() as connection:
            repository_id = await _repository_id(connection, repository.name)
            if repository_id is None:
                raise NameUnknownError(f"repository {repository.name!r} unknown")
            await _update_settings(connection, repository_id, repository)
            return await _load_repository(connection, repository_id)

    async def delete_repository(self, name: str) -> bool:
        # Proxies, hosts, links, manifests (with tags and references) and uploads cascade.
        async with self._write() as connection:
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
            _check_proxy_names(repository.name, repository_proxies)
        async with self._write() as connection:
            if self._postgres:
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})
            undeclared: ColumnElement[bool] = repositories.c.managed_by_config.is_(True)
            if names:
                undeclared = undeclared & repositories.c.name.not_in(names)
            await connection.execute(update(repositories).where(undeclared).values(managed_by_config=False))
            for repository, repository_proxies in declared:
                managed = Repository(
                    name=repository.name,
                    visibility=repository.visibility,
                    default=repository.default,
                    hosts=repository.hosts,
                    tag_ttl_seconds=repository.tag_ttl_seconds,
                    managed_by_config=True,
                )
                repository_id = await _repository_id(connection, repository.name)
                if repository_id is None:
                    if managed.default:
                        await _clear_default(connection)
                    result = await connection.execute(
                        repositories.insert()
                        .values(name=managed.name, created_at=rows.now(), **rows.repository_values(managed))
                        .returning(repositories.c.id)
                    )
                    repository_id = int(result.scalar_one())
                    await _replace_hosts(connection, repository_id, managed.hosts)
                else:
                    await _update_settings(connection, repository_id, managed)
                await _sync_proxies(connection, repository_id, self._sealed(repository_proxies))

    async def list_proxies(self, repository_id: int) -> list[Proxy]:
        query = (
            select(proxies)
            .where(proxies.c.repository_id == repository_id)
            .order_by(proxies.c.priority, proxies.c.id)
        )
        async with self._read() as connection:
            result = await connection.execute(query)
            return [self._opened(rows.proxy(row)) for row in result]


# --- statements shared by the methods above (all inside the caller's transaction) ---------------------


def _check_proxy_names(repository: str, repository_proxies: Iterable[Proxy]) -> None:
    names = [proxy.name for proxy in repository_proxies]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RepositoryExistsError(f"proxy name used twice in repository {repository!r}: {', '.join(twice)}")


async def _repository_id(connection: AsyncConnection, name: str) -> int | None:
    found: int | None = await connection.scalar(select(repositories.c.id).where(repositories.c.name == name))
    return found


async def _clear_default(connection: AsyncConnection, keep: int | None = None) -> None:
    condition: ColumnElement[bool] = repositories.c.is_default.is_(True)
    if keep is not None:
        condition = condition & (repositories.c.id != keep)
    await connection.execute(update(repositories).where(condition).values(is_default=False))


async def _update_settings(connection: AsyncConnection, repository_id: int, repository: Repository) -> None:
    if repository.default:
        await _clear_default(connection, keep=repository_id)
    await connection.execute(
        update(repositories)
        .where(repositories.c.id == repository_id)
        .values(**rows.repository_values(repository))
    )
    await _replace_hosts(connection, repository_id, repository.hosts)


async def _replace_hosts(connection: AsyncConnection, repository_id: int, hosts: Iterable[str]) -> None:
    await connection.execute(
        delete(repository_hosts).where(repository_hosts.c.repository_id == repository_id)
    )
    values = [
        {"repository_id": repository_id, "position": position, "host": host}
        for position, host in enumerate(rows.normal_hosts(hosts))
    ]
    if values:
        await connection.execute(repository_hosts.insert(), values)


async def _replace_proxies(
    connection: AsyncConnection, repository_id: int, repository_proxies: Sequence[Proxy]
) -> None:
    await connection.execute(delete(proxies).where(proxies.c.repository_id == repository_id))
    values = [
        {"repository_id": repository_id, **rows.proxy_values(proxy, priority)}
        for priority, proxy in enumerate(repository_proxies, start=1)
    ]
    if values:
        await connection.execute(proxies.insert(), values)


async def _sync_proxies(connection: AsyncConnection, repository_id: int, declared: Sequence[Proxy]) -> None:
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


async def _load_repository(connection: AsyncConnection, repository_id: int) -> Repository:
    return (await _load_repositories(connection, repositories.c.id == repository_id))[0]


async def _load_repositories(connection: AsyncConnection, *conditions: Any) -> list[Repository]:
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
