"""Fixtures of the auth tests: a metadata store on SQLite in ``tmp_path`` and argon2 with cheap
parameters (the same code path as production, a fraction of the cost)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from cargohold.auth.passwords import Passwords


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
