"""Password hashing: argon2id through argon2-cffi's ``PasswordHasher`` (its defaults: RFC 9106's
low-memory profile), run in worker threads so a hash never blocks the event loop, and at most a few at
once so a flood of logins cannot claim unbounded memory (each hash takes the hasher's ``memory_cost``).

``dummy_verify`` spends the same work on a user that does not exist, so a login's timing does not tell
whether the name is taken. Passwords longer than ``MAX_PASSWORD_LENGTH`` are never hashed.
"""

from __future__ import annotations

import asyncio
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_PASSWORD_LENGTH: Final = 1024
"""Longer passwords are refused when set and fail when presented, without hashing them."""

MAX_CONCURRENT_HASHES: Final = 4
"""How many argon2 computations one process runs at once; the others wait their turn."""


class Passwords:
    """Hashes and verifies passwords. ``hasher`` defaults to ``PasswordHasher()`` (argon2id); tests pass
    a cheap one."""

    def __init__(
        self, hasher: PasswordHasher | None = None, *, concurrency: int = MAX_CONCURRENT_HASHES
    ) -> None:
        self._hasher = hasher or PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """The PHC string (``$argon2id$…``) of ``password``."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``; False for a mismatch, a damaged hash, or a
        password too long to be one (never an exception)."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    async def dummy_verify(self, password: str) -> None:
        """Spend the work of one verification on nothing (a login naming an unknown user)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("cargohold: no such user")
        await self.verify(self._dummy_hash, password[:MAX_PASSWORD_LENGTH])

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the hasher's current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError, ValueError):
            return False
