"""Registry JWTs, the tokens of the Docker token flow: parsing the scopes a client asks for, issuing a
token that holds what it was granted, and verifying a token a client presents back on /v2.

Tokens are HS256 with a key derived from the server key (``SecretBox.derive("registry-jwt")``), with
``iss`` and ``aud`` ``cargohold``, ``sub`` (the user, or "" for an anonymous caller), ``iat``, ``nbf``,
``exp`` (``LIFETIME_SECONDS`` later), a random ``jti`` and ``access``: ``[{"type": "repository",
"name": "<repository>/<image>", "actions": [...]}, …]`` plus ``registry:catalog:*`` for everyone.
Only HS256 is accepted when verifying (never ``none`` or another algorithm), every claim is required,
and anything wrong is an ``UnauthorizedError``.

Scopes follow Distribution's grammar ``<type>[(<class>)]:<name>:<action>[,<action>…]``: the name is what
lies between the first and the last colon (image names hold slashes; a host name may hold a port).
Unknown types, names outside the OCI grammar, unknown actions and junk are dropped, never raised.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt

from cargohold.auth.principal import Principal
from cargohold.auth.secrets import SecretBox
from cargohold.errors import NameInvalidError, UnauthorizedError
from cargohold.models import validate_full_name

ISSUER: Final = "cargohold"
AUDIENCE: Final = "cargohold"
LIFETIME_SECONDS: Final = 300
ALGORITHM: Final = "HS256"
LEEWAY_SECONDS: Final = 5
"""Clock difference tolerated on ``nbf``/``exp`` (workers of one deployment may run on several hosts)."""
MAX_TOKEN_LENGTH: Final = 8192
VERIFIED_TOKENS: Final = 1024
"""Tokens whose signature was checked, remembered (claims only) so a client's every request does not pay the
decoding again; the times in the claims are still checked on each use."""
MAX_SCOPE_LENGTH: Final = 512
REPOSITORY_ACTIONS: Final = frozenset({"pull", "push", "delete", "*"})
_REQUIRED: Final = ("iss", "aud", "sub", "iat", "nbf", "exp", "jti", "access")
CATALOG_SCOPE: Final = {"type": "registry", "name": "catalog", "actions": ["*"]}


@dataclass(frozen=True, slots=True)
class RequestedScope:
    """One scope a client asked for: ``type`` is ``repository`` or ``registry``; ``actions`` may hold
    ``*`` (everything)."""

    type: str
    name: str
    actions: frozenset[str]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What the token endpoint answers with."""

    token: str
    expires_in: int
    issued_at: datetime


def parse_scopes(scopes: Sequence[str]) -> list[RequestedScope]:
    """The well-formed scopes among ``scopes``, in order, the actions of repeated ones merged."""
    merged: dict[tuple[str, str], set[str]] = {}
    for raw in scopes:
        parsed = _parse_scope(raw)
        if parsed is not None:
            merged.setdefault((parsed.type, parsed.name), set()).update(parsed.actions)
    return [RequestedScope(kind, name, frozenset(actions)) for (kind, name), actions in merged.items()]


def _parse_scope(raw: object) -> RequestedScope | None:
    if not isinstance(raw, str) or len(raw) > MAX_SCOPE_LENGTH:
        return None
    kind, sep, rest = raw.partition(":")
    name, sep2, actions_text = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    kind = kind.split("(", 1)[0] if kind.endswith(")") else kind  # "repository(plugin)" is a repository
    actions = frozenset(part.strip() for part in actions_text.split(",")) - {""}
    if kind == "repository":
        try:
            validate_full_name(name)
        except NameInvalidError:
            return None
        actions &= REPOSITORY_ACTIONS
    elif kind == "registry":
        if name != "catalog":
            return None
        actions &= {"*"}
    else:
        return None
    return RequestedScope(kind, name, actions) if actions else None


class RegistryTokens:
    """Issues and verifies registry JWTs signed with ``key`` (use ``from_secrets``)."""

    def __init__(
        self,
        key: bytes,
        *,
        lifetime_seconds: int = LIFETIME_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if len(key) < 32:
            raise ValueError("a registry JWT key needs at least 32 bytes")
        self._key = key
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    @classmethod
    def from_secrets(cls, box: SecretBox, *, lifetime_seconds: int = LIFETIME_SECONDS) -> RegistryTokens:
        return cls(box.derive("registry-jwt"), lifetime_seconds=lifetime_seconds)

    def issue(self, principal: Principal, granted: Sequence[tuple[str, frozenset[str]]]) -> IssuedToken:
        """A token for ``principal`` holding ``granted`` (``(full name, actions)``, already cut to what the
        principal may do) and the catalog scope."""
        now = self._clock().replace(microsecond=0)
        access: list[dict[str, Any]] = [
            {"type": "repository", "name": name, "actions": sorted(actions)}
            for name, actions in granted
            if actions
        ]
        access.append(dict(CATALOG_SCOPE))
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.name or "",
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self._lifetime),
            "jti": secrets.token_urlsafe(16),
            "access": access,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token=token, expires_in=self._lifetime, issued_at=now)

    def verify(self, token: str) -> Principal:
        """The principal a token speaks for, limited to its scopes. UnauthorizedError when the token is
        malformed, signed otherwise, expired, not yet valid, or for another issuer or audience (an expired
        one says so in ``detail``, ``{"reason": "expired"}``)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise UnauthorizedError("invalid token")
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            self._verified[token] = claims
            while len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        now = self._clock().timestamp()
        times = [claims.get(name) for name in ("iat", "nbf", "exp")]
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in times):
            raise UnauthorizedError("invalid token")
        if claims["nbf"] > now + LEEWAY_SECONDS or claims["iat"] > now + LEEWAY_SECONDS:
            raise UnauthorizedError("invalid token")
        if claims["exp"] <= now - LEEWAY_SECONDS:
            raise UnauthorizedError("token expired", detail={"reason": "expired"})
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise UnauthorizedError("invalid token")
        return Principal(name=subject or None, token_scopes=_scopes_of(claims.get("access")))

    def _decode(self, token: str) -> dict[str, Any]:
        """The claims of a token signed with this key for this issuer and audience (times unchecked)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # Times are checked by verify against this instance's clock, on every use.
                options={
                    "require": list(_REQUIRED),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise UnauthorizedError("invalid token") from None
        return claims


def _scopes_of(access: object) -> frozenset[tuple[str, str]]:
    """The ``(name, action)`` repository pairs of an ``access`` claim; UnauthorizedError when it is not
    the shape this module writes."""
    if not isinstance(access, list):
        raise UnauthorizedError("invalid token")
    pairs: set[tuple[str, str]] = set()
    for entry in access:
        if not isinstance(entry, dict):
            raise UnauthorizedError("invalid token")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise UnauthorizedError("invalid token")
        if not all(isinstance(action, str) for action in actions):
            raise UnauthorizedError("invalid token")
        if kind == "repository":
            pairs.update((name, action) for action in actions)
    return frozenset(pairs)
