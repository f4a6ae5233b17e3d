"""Authenticator: passwords and access tokens over Basic, access tokens and registry JWTs over Bearer,
one answer for every failure, the unknown user's argon2 cost, expired and revoked tokens, last use
recorded in batches, a verified pair remembered briefly, and limits on failures that slow an attacker
without locking anybody else out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from cargohold.auth.authenticator import (
    CLIENT_FAILURES,
    PACE_MAX_WAIT,
    PACE_SECONDS,
    PAIR_FAILURES,
    USER_FAILURES,
    VERIFIED_SECONDS,
    WINDOW_SECONDS,
    Authenticator,
)
from cargohold.auth.passwords import Passwords
from cargohold.auth.principal import Permission, Principal
from cargohold.auth.ratelimit import FailureLimiter, Pacer
from cargohold.auth.tokens import RegistryTokens
from cargohold.auth.users import UserAdmin
from cargohold.errors import TooManyRequestsError, UnauthorizedError
from cargohold.metadata.sql import Metadata
from cargohold.models import Repository

PASSWORD = "bob's long password"
KEY = b"j" * 32


class Now:
    """A wall clock and a monotonic clock that move together, by hand."""

    def __init__(self) -> None:
        self.wall = datetime.now(UTC)
        self.mono = 5000.0
        self.slept: list[float] = []

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        """What the authenticator waits: recorded, and the clocks move on by it."""
        self.slept.append(seconds)
        self.advance(seconds)


class CountingPasswords(Passwords):
    def __init__(self) -> None:
        super().__init__(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        self.verifications = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return await super().verify(password_hash, password)


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def counting() -> CountingPasswords:
    return CountingPasswords()


@pytest.fixture
def registry_tokens(now: Now) -> RegistryTokens:
    return RegistryTokens(KEY, clock=now.now)


@pytest.fixture
def auth(
    metadata: Metadata, counting: CountingPasswords, registry_tokens: RegistryTokens, now: Now
) -> Authenticator:
    return Authenticator(
        metadata.users,
        counting,
        registry_tokens,
        per_user=FailureLimiter(USER_FAILURES, WINDOW_SECONDS, clock=now.monotonic),
        per_client=FailureLimiter(CLIENT_FAILURES, WINDOW_SECONDS, clock=now.monotonic),
        per_pair=FailureLimiter(PAIR_FAILURES, WINDOW_SECONDS, clock=now.monotonic),
        pacer=Pacer(PACE_SECONDS, PACE_MAX_WAIT, clock=now.monotonic),
        clock=now.now,
        monotonic=now.monotonic,
        sleep=now.sleep,
    )


@pytest.fixture
async def users(metadata: Metadata, counting: CountingPasswords, now: Now) -> UserAdmin:
    admin = UserAdmin(metadata.users, counting, clock=now.now)
    await metadata.repositories.create_repository(Repository(name="team"))
    await admin.create("bob", PASSWORD)
    await admin.grant("bob", "team", Permission.WRITE)
    await admin.create("root", "root's long password", is_admin=True)
    return admin


async def test_password_signs_in_with_grants_and_admin_flag(auth: Authenticator, users: UserAdmin) -> None:
    assert await auth.basic("bob", PASSWORD, "10.0.0.1") == Principal(
        name="bob", grants={"team": Permission.WRITE}
    )
    root = await auth.basic("root", "root's long password", "10.0.0.1")
    assert root.is_admin


async def test_every_failure_is_the_same_answer_and_costs_a_verification(
    auth: Authenticator, users: UserAdmin, counting: CountingPasswords
) -> None:
    messages = []
    for username, secret in [("bob", "wrong password!"), ("nobody", PASSWORD), ("bob", ""), ("nobody", "x")]:
        before = counting.verifications
        with pytest.raises(UnauthorizedError) as refused:
            await auth.basic(username, secret, "10.0.0.1")
        messages.append(refused.value.message)
        assert counting.verifications == before + 1  # an unknown user costs one argon2 verify too
    assert set(messages) == {"invalid credentials"}


async def test_access_token_works_as_basic_password_and_as_bearer(
    auth: Authenticator, users: UserAdmin
) -> None:
    secret = (await users.create_token("bob", "ci", None)).secret
    bob = Principal(name="bob", grants={"team": Permission.WRITE})
    assert await auth.basic("bob", secret, "10.0.0.1") == bob
    assert await auth.bearer(secret, "10.0.0.1") == bob
    with pytest.raises(UnauthorizedError):
        await auth.basic("root", secret, "10.0.0.1")  # another user's name with bob's token
    with pytest.raises(UnauthorizedError):
        await auth.bearer(secret[:-1] + ("A" if secret[-1] != "A" else "B"), "10.0.0.1")


async def test_revoked_and_expired_tokens_authenticate_nobody(
    auth: Authenticator, users: UserAdmin, now: Now
) -> None:
    revoked = (await users.create_token("bob", "old", None)).secret
    expiring = (await users.create_token("bob", "short", now.now() + timedelta(hours=1))).secret
    assert (await auth.bearer(expiring, "10.0.0.1")).name == "bob"
    await users.revoke_token("bob", "old")
    now.advance(3600)
    for secret in (revoked, expiring):
        with pytest.raises(UnauthorizedError):
            await auth.bearer(secret, "10.0.0.1")
        with pytest.raises(UnauthorizedError):
            await auth.basic("bob", secret, "10.0.0.1")


async def test_deleted_user_tokens_stop_working(auth: Authenticator, users: UserAdmin) -> None:
    secret = (await users.create_token("bob", "ci", None)).secret
    await users.delete("bob")
    with pytest.raises(UnauthorizedError):
        await auth.bearer(secret, "10.0.0.1")


async def test_registry_jwt_bearer_gives_a_scoped_principal(
    auth: Authenticator, users: UserAdmin, registry_tokens: RegistryTokens, now: Now
) -> None:
    bob = await auth.basic("bob", PASSWORD, "10.0.0.1")
    token = registry_tokens.issue(bob, [("team/app", frozenset({"pull"}))]).token
    principal = await auth.bearer(token, "10.0.0.1")
    assert principal.name == "bob"
    assert principal.token_scopes == frozenset({("team/app", "pull")})
    assert principal.grants == {}
    now.advance(301 + 5)
    with pytest.raises(UnauthorizedError) as expired:
        await auth.bearer(token, "10.0.0.1")
    assert expired.value.message == "invalid credentials"
    forged = RegistryTokens(b"x" * 32, clock=now.now).issue(bob, [("team/app", frozenset({"push"}))]).token
    with pytest.raises(UnauthorizedError):
        await auth.bearer(forged, "10.0.0.1")


async def test_last_use_is_recorded_at_once_when_stale_then_in_batches(
    auth: Authenticator, users: UserAdmin, now: Now
) -> None:
    secret = (await users.create_token("bob", "ci", None)).secret
    await auth.bearer(secret, "10.0.0.1")
    first = now.now()
    assert [t.last_used_at for t in await users.list_tokens("bob")] == [first]
    now.advance(10)
    await auth.bearer(secret, "10.0.0.1")
    assert [t.last_used_at for t in await users.list_tokens("bob")] == [first]  # batched
    await auth.flush()
    assert [t.last_used_at for t in await users.list_tokens("bob")] == [now.now()]
    await auth.flush()  # nothing pending: nothing happens


async def test_failures_for_a_user_from_one_address_refuse_only_that_address(
    auth: Authenticator, users: UserAdmin, counting: CountingPasswords, now: Now
) -> None:
    for i in range(PAIR_FAILURES):
        with pytest.raises(UnauthorizedError):
            await auth.basic("bob", f"guess number {i}", "203.0.113.9")
    checked = counting.verifications
    with pytest.raises(TooManyRequestsError) as limited:
        await auth.basic("bob", PASSWORD, "203.0.113.9")  # even the right password, from that address
    assert limited.value.retry_after == WINDOW_SECONDS
    assert counting.verifications == checked  # refused before any check
    assert (await auth.basic("root", "root's long password", "203.0.113.9")).name == "root"  # others fine
    assert (await auth.basic("bob", PASSWORD, "10.0.2.1")).name == "bob"  # bob from elsewhere too
    now.advance(WINDOW_SECONDS)
    assert (await auth.basic("bob", PASSWORD, "203.0.113.9")).name == "bob"


async def test_a_user_attacked_from_many_addresses_is_paced_not_locked_out(
    auth: Authenticator, users: UserAdmin, counting: CountingPasswords, now: Now
) -> None:
    for i in range(USER_FAILURES):
        with pytest.raises(UnauthorizedError):
            await auth.basic("bob", f"guess number {i}", f"10.0.1.{i}")
    assert now.slept == []  # below the threshold nobody waits
    assert (await auth.basic("bob", PASSWORD, "10.0.2.1")).name == "bob"  # the owner still signs in
    started = now.mono
    for i in range(5):
        with pytest.raises(UnauthorizedError):
            await auth.basic("bob", f"another guess {i}", f"10.0.3.{i}")
    assert now.mono - started >= 5 * PACE_SECONDS  # one password check per second at most
    assert (await auth.basic("root", "root's long password", "10.0.2.1")).name == "root"


async def test_a_paced_user_whose_queue_is_full_is_asked_to_retry(
    auth: Authenticator, users: UserAdmin, now: Now
) -> None:
    for i in range(USER_FAILURES):
        with pytest.raises(UnauthorizedError):
            await auth.basic("bob", f"guess number {i}", f"10.0.1.{i}")

    async def no_time_passes(seconds: float) -> None:
        now.slept.append(seconds)

    auth._sleep = no_time_passes  # concurrent guesses: each reserves a turn before any of them ran
    refused = None
    for i in range(int(PACE_MAX_WAIT / PACE_SECONDS) + 2):
        try:
            await auth.basic("bob", f"parallel guess {i}", f"10.0.4.{i}")
        except UnauthorizedError:
            continue
        except TooManyRequestsError as error:
            refused = error
            break
    assert refused is not None
    assert refused.retry_after is not None
    assert refused.retry_after >= 1
    assert max(now.slept) <= PACE_MAX_WAIT


async def test_valid_tokens_and_recently_verified_passwords_work_during_a_lock_out(
    auth: Authenticator, users: UserAdmin, registry_tokens: RegistryTokens
) -> None:
    secret = (await users.create_token("bob", "ci", None)).secret
    assert (await auth.basic("bob", PASSWORD, "192.0.2.50")).name == "bob"
    jwt = registry_tokens.issue(Principal(name="bob"), []).token
    for i in range(CLIENT_FAILURES):
        with pytest.raises(UnauthorizedError):
            await auth.basic(f"user{i}", "some password", "192.0.2.50")
    assert (await auth.bearer(secret, "192.0.2.50")).name == "bob"
    assert (await auth.basic("bob", secret, "192.0.2.50")).name == "bob"
    assert (await auth.bearer(jwt, "192.0.2.50")).name == "bob"
    assert (await auth.basic("bob", PASSWORD, "192.0.2.50")).name == "bob"  # verified a moment ago
    with pytest.raises(TooManyRequestsError):
        await auth.basic("root", "root's long password", "192.0.2.50")  # not verified lately: waits


async def test_a_verified_password_is_remembered_briefly_and_forgotten_when_it_changes(
    auth: Authenticator, users: UserAdmin, counting: CountingPasswords, now: Now
) -> None:
    for _ in range(20):
        assert (await auth.basic("bob", PASSWORD, "10.0.0.1")).name == "bob"
    assert counting.verifications == 1
    with pytest.raises(UnauthorizedError):
        await auth.basic("bob", PASSWORD + "!", "10.0.0.1")
    assert counting.verifications == 2
    now.advance(VERIFIED_SECONDS)
    assert (await auth.basic("bob", PASSWORD, "10.0.0.1")).name == "bob"
    assert counting.verifications == 3
    await users.set_password("bob", "bob's new long password")
    with pytest.raises(UnauthorizedError):
        await auth.basic("bob", PASSWORD, "10.0.0.1")
    await users.delete("bob")
    with pytest.raises(UnauthorizedError):
        await auth.basic("bob", "bob's new long password", "10.0.0.1")


async def test_too_many_failures_from_an_address_are_refused_for_every_user(
    auth: Authenticator, users: UserAdmin
) -> None:
    for i in range(CLIENT_FAILURES):
        with pytest.raises(UnauthorizedError):
            await auth.basic(f"user{i}", "some password", "192.0.2.7")
    with pytest.raises(TooManyRequestsError):
        await auth.basic("bob", PASSWORD, "192.0.2.7")
    with pytest.raises(TooManyRequestsError):
        await auth.bearer("anything", "192.0.2.7")
    assert (await auth.basic("bob", PASSWORD, "192.0.2.8")).name == "bob"


async def test_bad_bearer_tokens_count_but_expired_jwts_do_not(
    auth: Authenticator, users: UserAdmin, registry_tokens: RegistryTokens, now: Now
) -> None:
    expired = registry_tokens.issue(Principal(name="bob"), []).token
    now.advance(400)
    for _ in range(CLIENT_FAILURES + 5):
        with pytest.raises(UnauthorizedError):
            await auth.bearer(expired, "198.51.100.1")
    for _ in range(CLIENT_FAILURES):
        with pytest.raises(UnauthorizedError):
            await auth.bearer("cgh_" + "x" * 43, "198.51.100.1")
    with pytest.raises(TooManyRequestsError):
        await auth.bearer("not.a.jwt", "198.51.100.1")


async def test_oversized_credentials_fail_without_hashing(
    auth: Authenticator, users: UserAdmin, counting: CountingPasswords
) -> None:
    for username, secret in [("bob", "p" * 5000), ("b" * 5000, PASSWORD)]:
        with pytest.raises(UnauthorizedError):
            await auth.basic(username, secret, "10.0.0.9")
    assert counting.verifications == 0


async def test_an_outdated_password_hash_is_upgraded_at_sign_in(
    metadata: Metadata, auth: Authenticator, users: UserAdmin
) -> None:
    weaker = Passwords(PasswordHasher(time_cost=1, memory_cost=512, parallelism=1))
    await metadata.users.set_user_password("bob", await weaker.hash(PASSWORD))
    await auth.basic("bob", PASSWORD, "10.0.0.1")
    record = await metadata.users.get_user("bob")
    assert record is not None
    assert "m=1024" in record.password_hash
    assert (await auth.basic("bob", PASSWORD, "10.0.0.1")).name == "bob"
