"""Schema migrations of the SQL metadata store, run programmatically at start-up.

``upgrade_to_head`` brings a database to the newest Alembic revision under ``migrations/`` in one
transaction that first takes a migration lock, so several server processes starting at once migrate it
exactly once: on PostgreSQL a transaction-scoped advisory lock, on SQLite the write lock of
``BEGIN IMMEDIATE``. A process that gets the lock after another has migrated finds the database at head
and changes nothing. No ``alembic.ini`` is needed; the Alembic config is built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from cargohold.errors import ConfigError
from cargohold.metadata.engine import WRITE, check_schema

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY: Final = 0x63617267_6F686F6C  # "cargohol": one key for every cargohold database
"""The PostgreSQL advisory lock held while migrating."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at, or None when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_to_head(engine: AsyncEngine, *, schema: str | None = None) -> bool:
    """Migrate the database to head under the migration lock; True when anything was applied.

    On PostgreSQL ``schema`` (the one on the engine's ``search_path``) is created first when missing.
    """
    head = head_revision()
    async with engine.execution_options(**WRITE).begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            if schema is not None:
                await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {check_schema(schema)}"))
        current = await connection.run_sync(current_revision)
        if current == head:
            return False
        if current is not None and not is_known_revision(current):
            raise ConfigError(
                f"the database is at schema revision {current}, which this version of cargohold does not "
                f"know (its newest is {head}): a newer cargohold migrated it. Run that version, or restore "
                "the database backup taken before the upgrade"
            )
        await connection.run_sync(_upgrade)
        return True


def is_known_revision(revision: str) -> bool:
    """Whether the packaged migrations contain ``revision`` (False for one written by a newer version)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
