"""Fixtures of the auth tests: a metadata store on SQLite in ``tmp_path`` and argon2 with cheap
parameters (the same code path as production, a fraction of the cost)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from cargohold.auth.passwords import Passwords
from cargohold.metadata.sql import SqlMetadataStore, open_metadata_store


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    opened = await open_metadata_store(f"sqlite:///{tmp_path}/cargohold.db")
    try:
        yield opened
    finally:
        await opened.close()
