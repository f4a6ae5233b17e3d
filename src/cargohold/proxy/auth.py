"""Authentication toward one upstream registry: anonymous, Basic, and the Bearer token flow
(PROTOCOL.md §3.4, Docker's token-auth spec).

``UpstreamAuth`` remembers the challenge the proxy last answered with, so later requests carry credentials
up front instead of paying a 401 round trip each. For Bearer it asks the realm the proxy named
(``GET realm?service=…&scope=repository:<image>:pull``, with Basic credentials when configured, anonymously
otherwise), accepts ``token`` or ``access_token``, and caches tokens per (realm, service, user, scope) until
shortly before ``expires_in`` (default 60 s) runs out. On a 401 it re-authenticates once with a fresh token;
a 401 on a token just issued means "no such repository / no access" (Docker Hub's not-found), unless the
registry calls the token invalid. Credentials are sent only to the proxy's own origin (the client enforces
that on redirects) and to the realm the proxy itself named, and to that realm only over https or, for a
plain-http registry, on the registry's own host (``credentials_may_go_to``); any other realm fails the proxy
before a token request is made. Nothing here logs a password or a token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

import aiohttp
from yarl import URL

from cargohold.errors import FailureKind, UpstreamError
from cargohold.proxy.challenges import Challenge, find_challenge, parse_challenges
from cargohold.proxy.failures import Redactor, failed, not_found, status_error, transport_error

log = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN_S: Final = 60
RENEW_EARLY_S: Final = 10.0
MAX_TOKEN_RESPONSE_BYTES: Final = 1024 * 1024

Clock = Callable[[], float]


class Scheme(Enum):
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The ``Authorization`` a request carried, and whether its token was fetched for this very request."""

    scheme: Scheme
    header: str | None = None
    fresh: bool = False
    key: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class _Bearer:
    realm: URL
    service: str | None


@dataclass(slots=True)
class _CachedToken:
    value: str
    renew_at: float


class TokenCache:
    """Bearer tokens by key, each reused until ``RENEW_EARLY_S`` before expiry (half its life if short)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, ...], _CachedToken] = {}

    def get(self, key: tuple[str, ...]) -> str | None:
        cached = self._tokens.get(key)
        if cached is None:
            return None
        if self._clock() >= cached.renew_at:
            del self._tokens[key]
            return None
        return cached.value

    def put(self, key: tuple[str, ...], value: str, expires_in: float) -> None:
        lifetime = max(0.0, expires_in)
        self._tokens[key] = _CachedToken(value, self._clock() + max(lifetime - RENEW_EARLY_S, lifetime / 2))

    def drop(self, key: tuple[str, ...], value: str) -> None:
        """Forget ``value`` (if it is still the cached token for ``key``)."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]


def parse_token_response(body: bytes) -> tuple[str, float]:
    """``(token, expires_in)`` from a token endpoint's JSON; ValueError if there is no usable token."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("token endpoint did not answer JSON") from error
    if not isinstance(data, dict):
        raise ValueError("token endpoint answered JSON that is not an object")
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("token endpoint answered without a token")
    expires_in = data.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN_S
    return token, float(min(expires_in, 365 * 24 * 3600))


class UpstreamAuth:
    """The credentials, remembered challenge and token cache of one upstream registry."""

    def __init__(
        self,
        proxy_name: str,
        origin: URL,
        *,
        username: str | None,
        password: str | None,
        redact: Redactor,
        clock: Clock = time.monotonic,
    ) -> None:
        self._proxy = proxy_name
        self._origin = origin
        # the Basic header, or None: anonymous (sent only to the proxy's origin and the realm it named)
        self._basic = _basic_header(username, password or "") if username else None
        self._username = username or ""
        self._redact = redact
        redact.add(password, permanent=True)
        if self._basic is not None:
            redact.add(self._basic.removeprefix("Basic "), permanent=True)
        self._scheme = Scheme.NONE
        self._bearer: _Bearer | None = None
        self._tokens = TokenCache(clock)
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self.token_requests = 0

    # --- before a request -----------------------------------------------------------------------------

    async def authorize(self, session: aiohttp.ClientSession, scope: str) -> Attempt:
        """The ``Authorization`` to send to the proxy's origin for a request needing ``scope``."""
        if self._scheme is Scheme.BASIC and self._basic is not None:
            return Attempt(Scheme.BASIC, self._basic)
        if self._scheme is Scheme.BEARER and self._bearer is not None:
            key = self._key(self._bearer, scope)
            token = self._tokens.get(key)
            if token is not None:
                return Attempt(Scheme.BEARER, f"Bearer {token}", key=key)
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:  # concurrent requests for one scope share one token request
                token = self._tokens.get(key)
                if token is not None:
                    return Attempt(Scheme.BEARER, f"Bearer {token}", key=key)
                token = await self._fetch_token(session, self._bearer, scope, key)
            return Attempt(Scheme.BEARER, f"Bearer {token}", fresh=True, key=key)
        return Attempt(Scheme.NONE)

    # --- after a 401 from the proxy's origin ----------------------------------------------------------

    def unauthorized(self, headers: Iterable[str], attempt: Attempt, what: str) -> None:
        """Learn from a 401: return to retry (with ``authorize`` again), or raise the domain error."""
        challenges = parse_challenges(headers)
        bearer = self._usable_bearer(challenges)
        basic = find_challenge(challenges, "basic")
        if attempt.scheme is Scheme.BEARER:
            if attempt.key is not None and attempt.header is not None:
                self._tokens.drop(attempt.key, attempt.header.removeprefix("Bearer "))
            if bearer is not None:
                self._bearer = bearer
            if not attempt.fresh:
                log.debug("proxy %s: cached token refused, fetching a new one", self._proxy)
                return  # one re-auth with a fresh token
            error = (find_challenge(challenges, "bearer") or Challenge("bearer")).get("error")
            if error == "invalid_token":
                raise failed(self._proxy, FailureKind.CREDENTIALS_REJECTED, f"{what}: token refused")
            raise not_found(self._proxy, f"{what}: not found or no access (401 with a valid token)")
        if bearer is not None and self._scheme is not Scheme.BEARER:
            self._scheme, self._bearer = Scheme.BEARER, bearer
            return
        if basic is not None and attempt.scheme is Scheme.NONE:
            if self._basic is None:
                raise failed(
                    self._proxy,
                    FailureKind.CREDENTIALS_REJECTED,
                    f"{what}: requires credentials, none configured",
                )
            self._scheme = Scheme.BASIC
            return
        if attempt.scheme is Scheme.BASIC:
            raise failed(
                self._proxy, FailureKind.CREDENTIALS_REJECTED, f"{what}: username or password refused"
            )
        if not challenges:
            raise failed(
                self._proxy, FailureKind.PROTOCOL, f"{what}: 401 without a WWW-Authenticate challenge"
            )
        schemes = ", ".join(sorted({c.scheme for c in challenges}))
        raise failed(
            self._proxy, FailureKind.PROTOCOL, f"{what}: unsupported authentication ({schemes[:100]})"
        )

    # --- internals -----------------------------------------------------------------------------------

    def _usable_bearer(self, challenges: list[Challenge]) -> _Bearer | None:
        challenge = find_challenge(challenges, "bearer")
        if challenge is None:
            return None
        realm_text = challenge.get("realm")
        if not realm_text:
            raise failed(self._proxy, FailureKind.PROTOCOL, "Bearer challenge without a realm")
        try:
            realm = self._origin.join(URL(realm_text))
        except (ValueError, TypeError) as error:
            raise failed(
                self._proxy, FailureKind.PROTOCOL, "Bearer challenge with an invalid realm"
            ) from error
        if realm.scheme not in ("http", "https") or not realm.host:
            raise failed(self._proxy, FailureKind.PROTOCOL, "Bearer realm is not an http(s) URL")
        if self._basic is not None and not credentials_may_go_to(realm, self._origin):
            raise failed(
                self._proxy,
                FailureKind.PROTOCOL,
                f"token realm http://{realm.host}:{realm.port}{realm.path} is plain http and not on the "
                f"registry's host {self._origin.host}; refusing to send the proxy's credentials there",
            )
        return _Bearer(realm, challenge.get("service"))

    def _key(self, bearer: _Bearer, scope: str) -> tuple[str, ...]:
        return (str(bearer.realm), bearer.service or "", self._username, scope)

    async def _fetch_token(
        self, session: aiohttp.ClientSession, bearer: _Bearer, scope: str, key: tuple[str, ...]
    ) -> str:
        params = {"scope": scope}
        if bearer.service:
            params["service"] = bearer.service
        url = bearer.realm.update_query(params)
        where = f"token endpoint {bearer.realm.host}:{bearer.realm.port}{bearer.realm.path}"
        self.token_requests += 1
        try:
            headers = {"Authorization": self._basic} if self._basic is not None else {}
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                log.debug("proxy %s: GET %s -> %s", self._proxy, bearer.realm.path, response.status)
                if response.status in (401, 403):
                    who = "credentials" if self._basic is not None else "anonymous access"
                    raise failed(
                        self._proxy,
                        FailureKind.CREDENTIALS_REJECTED,
                        f"{where} refused the {who} ({response.status})",
                    )
                if response.status != 200:
                    raise status_error(self._proxy, response.status, response.headers, where)
                body = await response.content.read(MAX_TOKEN_RESPONSE_BYTES)
        except UpstreamError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise transport_error(self._proxy, error, where, self._redact) from None
        try:
            token, expires_in = parse_token_response(body)
        except ValueError as error:
            raise failed(self._proxy, FailureKind.PROTOCOL, f"{where}: {error}") from None
        self._redact.add(token)
        self._tokens.put(key, token, expires_in)
        return token


def credentials_may_go_to(realm: URL, origin: URL) -> bool:
    """Whether a proxy's Basic credentials may go to the token ``realm`` its registry at ``origin`` named:
    over https (the realm proves who it is), or over plain http only to the registry's own host, and only
    when the registry itself is plain http (the credentials already travel there in clear). Never a
    downgrade from https, never in clear to another host."""
    if realm.scheme == "https":
        return True
    return realm.scheme == "http" and origin.scheme == "http" and realm.host == origin.host


def _basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
