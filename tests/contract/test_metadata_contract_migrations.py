"""Contract: opening a store migrates the database once, however many processes open it at the same time,
and the migrated schema is the one the queries are written against."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from typing import Protocol

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cargohold.errors import ConfigError
from cargohold.metadata.engine import async_url, create_engine
from cargohold.metadata.migrate import current_revision, head_revision, upgrade_to_head
from cargohold.metadata.schema import metadata
from cargohold.metadata.sql import Metadata
from cargohold.models import Repository


class Backend(Protocol):
    """The ``backend`` fixture of conftest.py."""

    name: str
    url: str
    schema: str | None

    async def open(self) -> Metadata: ...


WORKERS = 4

OPEN_AND_CLOSE = textwrap.dedent(
    """
    import asyncio, sys
    from cargohold.metadata.sql import open_metadata

    async def main() -> None:
        store = await open_metadata(sys.argv[1], schema=sys.argv[2] or None)
        await store.repositories.sync_declared_repositories([])
        await store.close()

    asyncio.run(main())
    """
)


async def test_second_open_is_a_no_op(backend: Backend) -> None:
    store = await backend.open()
    await store.repositories.create_repository(Repository(name="hub", default=True))
    await store.close()

    engine = create_engine(async_url(backend.url), schema=backend.schema)
    try:
        assert not await upgrade_to_head(engine, schema=backend.schema)
        async with engine.connect() as connection:
            assert await connection.run_sync(current_revision) == head_revision()
    finally:
        await engine.dispose()

    again = await backend.open()
    try:
        found = await again.repositories.get_repository("hub")
        assert found is not None
        assert found.default
    finally:
        await again.close()


async def test_a_fresh_database_is_migrated_to_head(backend: Backend) -> None:
    engine = create_engine(async_url(backend.url), schema=backend.schema)
    try:
        assert await upgrade_to_head(engine, schema=backend.schema)
        async with engine.connect() as connection:
            assert await connection.run_sync(current_revision) == head_revision()
    finally:
        await engine.dispose()


async def test_workers_starting_together_migrate_once(backend: Backend) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            OPEN_AND_CLOSE,
            backend.url,
            backend.schema or "",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    outcomes = [await process.communicate() for process in processes]
    for process, (_, stderr) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, stderr.decode()
    store = await backend.open()
    try:
        assert await store.repositories.list_repositories() == []
        async with store.database.engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [row[0] for row in versions] == [head_revision()]
    finally:
        await store.close()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_table_definitions(backend: Backend) -> None:
    store = await backend.open()
    try:
        async with store.database.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            if backend.name == "postgresql":
                # Byte order whatever the database's default collation is.
                collations = await connection.execute(
                    text(
                        "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND column_name IN ('name', 'image', 'tag')"
                    )
                )
                found = {(row.table_name, row.column_name): row.collation_name for row in collations}
                assert found[("repositories", "name")] == "C"
                assert found[("manifests", "image")] == "C"
                assert found[("tags", "tag")] == "C"
    finally:
        await store.close()


async def test_a_database_migrated_by_a_newer_version_is_refused_clearly(backend: Backend) -> None:
    store = await backend.open()
    await store.close()
    engine = create_engine(async_url(backend.url), schema=backend.schema)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0999_from_the_future'"))
        with pytest.raises(ConfigError, match=r"0999_from_the_future.*restore the database backup"):
            await upgrade_to_head(engine, schema=backend.schema)
        async with engine.connect() as connection:  # untouched: the newer version can still use it
            assert await connection.run_sync(current_revision) == "0999_from_the_future"
    finally:
        await engine.dispose()
