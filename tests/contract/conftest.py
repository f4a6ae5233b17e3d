"""Fixtures of the metadata contract suite: every test runs once per backend, SQLite in ``tmp_path`` and
PostgreSQL in a schema of its own (created by the store, dropped afterwards), so concurrent runs never
meet. The PostgreSQL server is ``postgresql://127.0.0.1:5432/test`` as the current OS user, else as
``postgres``, or ``$CARGOHOLD_TEST_POSTGRES_URL``; when it cannot be reached the test fails, it never skips.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from tests.support.postgres import postgres_url

from cargohold.metadata.sql import Metadata, open_metadata


@dataclass(frozen=True)
class Backend:
    """Where one test's metadata database lives; ``open()`` gives a fresh store on it."""

    name: str
    url: str
    schema: str | None = None

    async def open(self) -> Metadata:
        return await open_metadata(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path}/data/cargohold.db")
        return
    url = await postgres_url()
    schema = f"contract_{uuid.uuid4().hex}"
    try:
        yield Backend("postgresql", url, schema)
    finally:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await connection.close()


@pytest.fixture
async def metadata(backend: Backend) -> AsyncIterator[Metadata]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()
