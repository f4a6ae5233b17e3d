"""Who the credentials of a request name: ``Authenticator`` turns a Basic pair (user name and password
or access token) or a Bearer token (access token or registry JWT) into a ``Principal``.

Every failure is the same ``UnauthorizedError("invalid credentials")``, whichever part was wrong. A user
name that does not exist still costs one argon2 verification, so timing does not tell names apart.
Access tokens are found by the sha256 of the secret (256 random bits: the index lookup reveals nothing a
forger could use); expired and revoked ones authenticate nobody, and a Basic pair's user name must be the
token's owner. Their ``last_used_at`` is written in batches: at once when the stored time is older than
``FLUSH_SECONDS``, else with the next flush (call ``flush()`` when shutting down).

Failed attempts are limited in memory, per process: at most ``USER_FAILURES`` (10) per user name and
``CLIENT_FAILURES`` (30, since many people may share one address behind NAT) per client address within
``WINDOW_SECONDS`` (5 minutes). Past that, ``TooManyRequestsError(retry_after=seconds)`` is raised before
any credential is checked. A registry JWT that merely expired is not counted (clients renew them).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from cargohold.auth.passwords import MAX_PASSWORD_LENGTH, Passwords
from cargohold.auth.principal import Principal
from cargohold.auth.ratelimit import FailureLimiter
from cargohold.auth.tokens import RegistryTokens
from cargohold.auth.users import grants_of, looks_like_token, token_hash
from cargohold.errors import CargoholdError, TooManyRequestsError, UnauthorizedError
from cargohold.metadata.base import UserStore
from cargohold.models import UserRecord

log = logging.getLogger(__name__)

USER_FAILURES: Final = 10
CLIENT_FAILURES: Final = 30
WINDOW_SECONDS: Final = 300
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._per_user = per_user or FailureLimiter(USER_FAILURES, WINDOW_SECONDS)
        self._per_client = per_client or FailureLimiter(CLIENT_FAILURES, WINDOW_SECONDS)
        self._clock = clock
        self._monotonic = monotonic
        self._uses: dict[int, datetime] = {}
        self._last_flush = monotonic()

    async def basic(self, username: str, secret: str, client: str) -> Principal:
        """The user named by a Basic pair whose secret is their password or one of their access tokens."""
        user_key = username[:MAX_USERNAME_LENGTH]
        self._check(client, user_key)
        principal = await self._basic(username, secret)
        if principal is None:
            self._per_client.fail(client)
            self._per_user.fail(user_key)
            raise _invalid()
        return principal

    async def bearer(self, token: str, client: str) -> Principal:
        """The principal of an access token secret or of a registry JWT (limited to its scopes)."""
        self._check(client, None)
        if looks_like_token(token):
            principal = await self._access_token(token, None)
        else:
            try:
                principal = self._tokens.verify(token)
            except UnauthorizedError as exc:
                expired = isinstance(exc.detail, dict) and exc.detail.get("reason") == "expired"
                if not expired:
                    self._per_client.fail(client)
                raise _invalid() from None
        if principal is None:
            self._per_client.fail(client)
            raise _invalid()
        return principal

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

    def _check(self, client: str, username: str | None) -> None:
        waits = [self._per_client.retry_after(client)]
        if username is not None:
            waits.append(self._per_user.retry_after(username))
        longest = max((wait for wait in waits if wait is not None), default=None)
        if longest is not None:
            raise TooManyRequestsError(
                "too many failed sign-in attempts; try again later", retry_after=longest
            )

    async def _basic(self, username: str, secret: str) -> Principal | None:
        if len(username) > MAX_USERNAME_LENGTH or len(secret) > MAX_PASSWORD_LENGTH:
            return None
        if looks_like_token(secret):
            principal = await self._access_token(secret, username)
            if principal is not None:
                return principal
        user = await self._store.get_user(username)
        if user is None:
            await self._passwords.dummy_verify(secret)
            return None
        if not await self._passwords.verify(user.password_hash, secret):
            return None
        if self._passwords.needs_rehash(user.password_hash):
            await self._rehash(user.name, secret)
        return principal_for(user)

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
