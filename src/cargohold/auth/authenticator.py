"""Who the credentials of a request name: ``Authenticator`` turns a Basic pair (user name and password
or access token) or a Bearer token (access token or registry JWT) into a ``Principal``.

Every failure is the same ``UnauthorizedError("invalid credentials")``, whichever part was wrong. A user
name that does not exist still costs one argon2 verification, so timing does not tell names apart.
Access tokens are found by the sha256 of the secret (256 random bits: the index lookup reveals nothing a
forger could use); expired and revoked ones authenticate nobody, and a Basic pair's user name must be the
token's owner. Their ``last_used_at`` is written in batches: at once when the stored time is older than
``FLUSH_SECONDS``, else with the next flush (call ``flush()`` when shutting down).

A Basic pair verified with argon2 is remembered for ``VERIFIED_SECONDS`` (under an HMAC of the pair with a
key of this process, next to the password hash it matched), so a client sending the same pair with every
request costs one argon2 verification a minute rather than one per request; a changed password no longer
matches the remembered hash, and a deleted user is not found.

Failed attempts are limited in memory, per process, so that an attacker slows only themselves:
- per client address: ``CLIENT_FAILURES`` (100) failures within ``WINDOW_SECONDS`` (5 minutes), then that
  address gets ``TooManyRequestsError(retry_after=seconds)`` before any credential is checked;
- per user name and address: ``PAIR_FAILURES`` (10), then that address is refused for that user;
- per user name, from anywhere: past ``USER_FAILURES`` (10) the account is not locked but paced: its
  password checks get one turn per ``PACE_SECONDS`` (1 s), waiting up to ``PACE_MAX_WAIT`` (5 s) for one.
Valid access tokens, registry JWTs and recently verified Basic pairs are checked first and work whatever
the limits say (they are unguessable, or proven already). A registry JWT that merely expired is not
counted (clients renew them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from cargohold.auth.passwords import MAX_PASSWORD_LENGTH, Passwords
from cargohold.auth.principal import Principal
from cargohold.auth.ratelimit import FailureLimiter, Pacer
from cargohold.auth.tokens import RegistryTokens
from cargohold.auth.users import grants_of, looks_like_token, token_hash
from cargohold.errors import CargoholdError, TooManyRequestsError, UnauthorizedError
from cargohold.metadata.base import UserStore
from cargohold.models import UserRecord

log = logging.getLogger(__name__)

USER_FAILURES: Final = 10
PAIR_FAILURES: Final = 10
CLIENT_FAILURES: Final = 100
WINDOW_SECONDS: Final = 300
PACE_SECONDS: Final = 1.0
PACE_MAX_WAIT: Final = 5.0
VERIFIED_SECONDS: Final = 60.0
MAX_VERIFIED: Final = 10_000
FLUSH_SECONDS: Final = 60
MAX_USERNAME_LENGTH: Final = 256


def principal_for(user: UserRecord) -> Principal:
    """The principal a signed-in user acts as."""
    return Principal(name=user.name, is_admin=user.is_admin, grants=grants_of(user))


def _invalid() -> UnauthorizedError:
    return UnauthorizedError("invalid credentials")


class Authenticator:
    """Checks credentials against the metadata store; see the module docstring for the rules."""

    def __init__(
        self,
        store: UserStore,
        passwords: Passwords,
        tokens: RegistryTokens,
        *,
        per_user: FailureLimiter | None = None,
        per_client: FailureLimiter | None = None,
        per_pair: FailureLimiter | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._per_user = per_user or FailureLimiter(USER_FAILURES, WINDOW_SECONDS)
        self._per_client = per_client or FailureLimiter(CLIENT_FAILURES, WINDOW_SECONDS)
        self._per_pair = per_pair or FailureLimiter(PAIR_FAILURES, WINDOW_SECONDS)
        self._pacer = pacer or Pacer(PACE_SECONDS, PACE_MAX_WAIT)
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._uses: dict[int, datetime] = {}
        self._last_flush = monotonic()
        self._verified_key = os.urandom(32)
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    async def basic(self, username: str, secret: str, client: str) -> Principal:
        """The user named by a Basic pair whose secret is their password or one of their access tokens."""
        if len(username) > MAX_USERNAME_LENGTH or len(secret) > MAX_PASSWORD_LENGTH:
            self._check(client, None)
            self._per_client.fail(client)
            raise _invalid()
        if looks_like_token(secret):
            principal = await self._access_token(secret, username)
            if principal is not None:
                return principal
        user = await self._store.get_user(username)
        pair_key = self._pair_key(username, secret)
        if user is not None and self._recently_verified(pair_key, user.password_hash):
            return principal_for(user)
        pair = f"{username}\0{client}"
        self._check(client, pair)
        await self._pace(username)
        if user is None:
            await self._passwords.dummy_verify(secret)
            verified = False
        else:
            verified = await self._passwords.verify(user.password_hash, secret)
        if user is None or not verified:
            self._per_client.fail(client)
            self._per_pair.fail(pair)
            self._per_user.fail(username)
            raise _invalid()
        if self._passwords.needs_rehash(user.password_hash):
            await self._rehash(user.name, secret)
        else:
            self._remember(pair_key, user.password_hash)
        return principal_for(user)

    async def bearer(self, token: str, client: str) -> Principal:
        """The principal of an access token secret or of a registry JWT (limited to its scopes)."""
        principal: Principal | None = None
        count = True
        if looks_like_token(token):
            principal = await self._access_token(token, None)
        else:
            try:
                principal = self._tokens.verify(token)
            except UnauthorizedError as exc:
                count = not (isinstance(exc.detail, dict) and exc.detail.get("reason") == "expired")
        if principal is not None:
            return principal
        self._check(client, None)
        if count:
            self._per_client.fail(client)
        raise _invalid()

    async def flush(self) -> None:
        """Write the access token uses not written yet."""
        uses, self._uses = self._uses, {}
        self._last_flush = self._monotonic()
        if not uses:
            return
        try:
            await self._store.record_token_uses(uses)
        except Exception:  # any database failure: a missed timestamp must not fail a sign-in
            log.warning("could not record access token uses", exc_info=True)

    # --- the checks ----------------------------------------------------------------------------------

    def _check(self, client: str, pair: str | None) -> None:
        waits = [self._per_client.retry_after(client)]
        if pair is not None:
            waits.append(self._per_pair.retry_after(pair))
        longest = max((wait for wait in waits if wait is not None), default=None)
        if longest is not None:
            raise TooManyRequestsError(
                "too many failed sign-in attempts; try again later", retry_after=longest
            )

    async def _pace(self, username: str) -> None:
        """Wait for the user's turn when the account is under attack (refused when the queue is full)."""
        if self._per_user.failures(username) < USER_FAILURES:
            return
        wait = self._pacer.turn(username)
        if wait is None:
            raise TooManyRequestsError(
                "too many failed sign-in attempts for this user; try again later",
                retry_after=self._pacer.retry_after(username),
            )
        if wait > 0:
            await self._sleep(wait)

    def _pair_key(self, username: str, secret: str) -> bytes:
        message = username.encode(errors="surrogatepass") + b"\0" + secret.encode(errors="surrogatepass")
        return hmac.digest(self._verified_key, message, hashlib.sha256)

    def _recently_verified(self, key: bytes, password_hash: str) -> bool:
        entry = self._verified.get(key)
        if entry is None:
            return False
        remembered_hash, until = entry
        if until <= self._monotonic() or not hmac.compare_digest(remembered_hash, password_hash):
            del self._verified[key]
            return False
        return True

    def _remember(self, key: bytes, password_hash: str) -> None:
        self._verified[key] = (password_hash, self._monotonic() + VERIFIED_SECONDS)
        self._verified.move_to_end(key)
        while len(self._verified) > MAX_VERIFIED:
            self._verified.popitem(last=False)

    async def _access_token(self, secret: str, username: str | None) -> Principal | None:
        found = await self._store.find_access_token(token_hash(secret))
        if found is None:
            return None
        token, owner = found
        if username is not None and not hmac.compare_digest(owner.name.encode(), username.encode()):
            return None
        now = self._clock()
        if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
            return None
        if token.id is not None:
            await self._used(token.id, token.last_used_at, now)
        return principal_for(owner)

    async def _used(self, token_id: int, stored: datetime | None, now: datetime) -> None:
        self._uses[token_id] = now
        stale = stored is None or now - stored >= timedelta(seconds=FLUSH_SECONDS)
        if stale or self._monotonic() - self._last_flush >= FLUSH_SECONDS:
            await self.flush()

    async def _rehash(self, name: str, password: str) -> None:
        try:
            await self._store.set_user_password(name, await self._passwords.hash(password))
        except CargoholdError as exc:  # e.g. the user was deleted meanwhile; the login stands
            log.info("could not upgrade the password hash of %r: %s", name, exc)
