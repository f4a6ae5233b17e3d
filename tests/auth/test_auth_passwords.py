"""Password hashing: argon2id, verification that never raises, the dummy verification for unknown users,
and the bound on concurrent hashes."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from argon2 import PasswordHasher

from cargohold.auth.passwords import MAX_PASSWORD_LENGTH, Passwords


async def test_hash_is_argon2id_and_verifies_only_the_password(passwords: Passwords) -> None:
    hashed = await passwords.hash("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert "a long enough password" not in hashed
    assert await passwords.hash("a long enough password") != hashed  # salted
    assert await passwords.verify(hashed, "a long enough password")
    assert not await passwords.verify(hashed, "a long enough passworD")
    assert not await passwords.verify(hashed, "")


async def test_damaged_hashes_and_huge_passwords_fail_without_raising(passwords: Passwords) -> None:
    assert not await passwords.verify("not a hash", "whatever password")
    assert not await passwords.verify("$argon2id$v=19$m=1024,t=1,p=1$broken", "whatever password")
    hashed = await passwords.hash("x" * MAX_PASSWORD_LENGTH)
    assert await passwords.verify(hashed, "x" * MAX_PASSWORD_LENGTH)
    assert not await passwords.verify(hashed, "x" * (MAX_PASSWORD_LENGTH + 1))


async def test_dummy_verify_spends_a_full_argon2_verification() -> None:
    verified: list[tuple[str, str | bytes]] = []

    class RecordingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append((str(hash), password))
            return super().verify(hash, password)

    passwords = Passwords(RecordingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    await passwords.dummy_verify("anything at all")
    await passwords.dummy_verify("y" * (MAX_PASSWORD_LENGTH * 3))
    assert [password for _, password in verified] == ["anything at all", "y" * MAX_PASSWORD_LENGTH]
    assert all(hashed.startswith("$argon2id$v=19$m=1024,t=1,p=1$") for hashed, _ in verified)


def test_rehash_is_needed_when_parameters_change() -> None:
    cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    hashed = asyncio.run(cheap.hash("a long enough password"))
    assert not cheap.needs_rehash(hashed)
    assert stronger.needs_rehash(hashed)
    assert cheap.needs_rehash("garbage")


async def test_hashes_run_off_the_event_loop_and_a_few_at_a_time() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    class CountingHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                return super().hash(password, salt=salt)
            finally:
                with lock:
                    running -= 1

    passwords = Passwords(CountingHasher(time_cost=2, memory_cost=4096, parallelism=1), concurrency=2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(passwords.hash(f"password number {i}") for i in range(8)))
    task.cancel()
    assert most <= 2
    assert ticks > 8  # the loop kept running while hashes were computed
