"""Schema migrations of the SQL metadata store, run programmatically at start-up.

``upgrade_to_head`` brings a database to the newest Alembic revision under ``migrations/`` in one
transaction that first takes a migration lock, so several server processes starting at once migrate it
exactly once: on PostgreSQL a transaction-scoped advisory lock, on SQLite the write lock of
``BEGIN IMMEDIATE``. A process that gets the lock after another has migrated finds the database at head
and changes nothing. No ``alembic.ini`` is needed; the Alembic config is built here.

Alembic is imported only when there is something to migrate: the head revision is read from the revision
files' ``revision``/``down_revision`` lines and the database's from its ``alembic_version`` table, so a
start on a database already at head does not load Alembic (and Mako), about a third of a second and 10 MiB.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from cargohold.errors import ConfigError
from cargohold.metadata.engine import WRITE, check_schema

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY: Final = 0x63617267_6F686F6C  # "cargohol": one key for every cargohold database
"""The PostgreSQL advisory lock held while migrating."""


VERSION_TABLE: Final = "alembic_version"
_REVISION_RE: Final = re.compile(r'^revision(?:: *str)? *= *"([^"]+)"', re.MULTILINE)
_DOWN_REVISION_RE: Final = re.compile(r'^down_revision(?:: *[^=]+)? *= *(?:"([^"]+)"|None)', re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged migrations, optionally bound to an open connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision of the packaged migrations: the one no other revision names as its
    ``down_revision`` (Alembic's own reading when the files do not show exactly one such)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION_RE.search(source), _DOWN_REVISION_RE.search(source)
        if revision is None:
            continue
        if down is None:  # a shape this reader does not know: let Alembic read the files
            return _alembic_head_revision()
        revisions.add(revision[1])
        if down[1] is not None:
            downs.add(down[1])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else _alembic_head_revision()


def _alembic_head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at, or None when it has never been migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


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
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
