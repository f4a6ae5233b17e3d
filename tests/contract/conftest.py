"""Fixtures of the metadata contract suite: every test runs once per backend, SQLite in ``tmp_path`` and
PostgreSQL in a schema of its own (created by the store, dropped afterwards), so concurrent runs never
meet. The PostgreSQL server is ``postgresql://127.0.0.1:5432/test`` as the current OS user, else as
``postgres``, or ``$CARGOHOLD_TEST_POSTGRES_URL``; when it cannot be reached the test fails, it never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from cargohold.metadata.sql import Metadata, open_metadata

DEFAULT_POSTGRES_URLS = ("postgresql://127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test")
_resolved: list[str] = []


async def postgres_url() -> str:
    """A PostgreSQL URL that accepts connections; fails the test with the reasons when none does."""
    if _resolved:
        return _resolved[0]
    override = os.environ.get("CARGOHOLD_TEST_POSTGRES_URL")
    candidates = (override,) if override else DEFAULT_POSTGRES_URLS
    failures = []
    for url in candidates:
        try:
            connection = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        await connection.close()
        _resolved.append(url)
        return url
    pytest.fail(
        "the PostgreSQL contract tests need a server: "
        + "; ".join(failures)
        + " (start PostgreSQL or set CARGOHOLD_TEST_POSTGRES_URL)",
        pytrace=False,
    )


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
