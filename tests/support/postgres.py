"""The PostgreSQL server of the tests: ``postgresql://127.0.0.1:5432/test`` as the current OS user, else
as ``postgres``, or ``$CARGOHOLD_TEST_POSTGRES_URL``. When it cannot be reached the test fails, never skips.
"""

from __future__ import annotations

import os

import asyncpg
import pytest

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
