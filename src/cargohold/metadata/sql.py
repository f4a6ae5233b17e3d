"""Opening the SQL metadata store: SQLAlchemy 2 Core on an async engine, the same code for SQLite
(aiosqlite) and PostgreSQL (asyncpg).

``open_metadata(url)`` builds the engine (``engine.py``) and its ``Database`` (``database.py``), migrates
the database to head (``migrate.py``) and returns ``Metadata``: one store per protocol of ``base.py``, all
holding that one ``Database``. Every public method of a store runs in one transaction; writing methods
open theirs for writing (``BEGIN IMMEDIATE`` on SQLite). The stores live in ``sql_repositories.py``
(with ``sql_management.py``), ``sql_content.py``, ``sql_inventory.py``, ``sql_users.py``,
``sql_stats.py``, ``sql_collector.py`` and ``sql_storage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from cargohold.errors import ConfigError
from cargohold.metadata.base import (
    CollectorStore,
    ContentStore,
    InventoryStore,
    RepositoryStore,
    StatsStore,
    StorageStore,
    UserStore,
)
from cargohold.metadata.database import Database
from cargohold.metadata.engine import async_url, create_engine, redact
from cargohold.metadata.migrate import upgrade_to_head
from cargohold.metadata.sealing import SecretCipher
from cargohold.metadata.sql_collector import SqlCollectorStore
from cargohold.metadata.sql_content import SqlContentStore
from cargohold.metadata.sql_inventory import SqlInventoryStore
from cargohold.metadata.sql_repositories import SqlRepositoryStore
from cargohold.metadata.sql_stats import SqlStatsStore
from cargohold.metadata.sql_storage import SqlStorageStore
from cargohold.metadata.sql_users import SqlUserStore

__all__ = ["Metadata", "open_metadata"]


@dataclass(frozen=True)
class Metadata:
    """Every metadata store on one database; hand each consumer the ones it uses, ``close()`` once."""

    database: Database
    repositories: RepositoryStore
    content: ContentStore
    inventory: InventoryStore
    users: UserStore
    stats: StatsStore
    collector: CollectorStore
    storage: StorageStore

    async def close(self) -> None:
        await self.database.close()


async def open_metadata(
    url: str, *, schema: str | None = None, secrets: SecretCipher | None = None
) -> Metadata:
    """Open the database at ``url`` (``sqlite:///PATH`` or ``postgresql://…``), migrated to head.

    The directory of a SQLite file is created when missing. ``schema`` (PostgreSQL only) puts every
    table in that schema, created when missing. With ``secrets`` (a ``cargohold.auth.secrets.SecretBox``)
    proxy passwords are encrypted at rest, and those left in plaintext by older versions are encrypted
    now. Raises ConfigError when the URL is unusable, the database cannot be reached, or the stored
    passwords do not decrypt with the key of ``secrets``.
    """
    engine = create_engine(async_url(url), schema=schema)
    database = Database(engine)
    repositories = SqlRepositoryStore(database, secrets)
    try:
        await upgrade_to_head(engine, schema=schema)
        await repositories.seal_stored_passwords()
    except (DBAPIError, OSError) as exc:
        await database.close()
        raise ConfigError(f"cannot open the metadata database {redact(url)}: {exc}") from exc
    except BaseException:
        await database.close()
        raise
    return Metadata(
        database=database,
        repositories=repositories,
        content=SqlContentStore(database),
        inventory=SqlInventoryStore(database),
        users=SqlUserStore(database),
        stats=SqlStatsStore(database),
        collector=SqlCollectorStore(database),
        storage=SqlStorageStore(database),
    )
