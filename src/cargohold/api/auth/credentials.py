"""Who a request is: the ``Authorization`` header read into a ``Principal``, for /v2, /api/v1 and /ui alike.

``Basic`` carries a user name and a password or an access token; ``Bearer`` an access token or a registry
JWT. No header is the anonymous principal. The checking itself is the authenticator's (``cargohold.auth``);
this module only parses the header, asks it once per request (the answer is kept on the request) and turns
a header it cannot read into the same ``UnauthorizedError`` a wrong password gets, so nothing tells a caller
which part was wrong. Rate limiting surfaces as ``TooManyRequestsError`` (with ``retry_after``).

Usage from any handler or middleware::

    principal = await principal_of(request)     # raises UnauthorizedError / TooManyRequestsError
"""

from __future__ import annotations

import base64
import binascii
from typing import Final, Protocol

from aiohttp import hdrs, web

from cargohold.auth.principal import ANONYMOUS, Principal
from cargohold.errors import UnauthorizedError

MAX_HEADER_LENGTH: Final = 8192
"""An Authorization header longer than this is refused unread (a JWT or Basic pair is far shorter)."""


class CredentialChecker(Protocol):
    """What this module needs of ``cargohold.auth.authenticator.Authenticator``."""

    async def basic(self, username: str, secret: str, client: str) -> Principal: ...

    async def bearer(self, token: str, client: str) -> Principal: ...


AUTHENTICATOR_KEY: Final = web.AppKey("cargohold_authenticator", CredentialChecker)
"""Set on the root application by the composition root; sub-applications (the UI) find it too."""
_PRINCIPAL_KEY: Final = web.RequestKey("cargohold_principal", Principal)
USER_NAME_KEY: Final = web.RequestKey("cargohold_user_name", str)
"""The name of the user a request turned out to be (credentials or a UI session), for the access log."""


def _invalid() -> UnauthorizedError:
    return UnauthorizedError("invalid credentials")


def client_address(request: web.BaseRequest) -> str:
    """The address failed logins are counted against: the TCP peer, or the client a trusted proxy named
    (``cargohold.api.forwarded`` rewrote ``remote`` before any handler ran)."""
    return request.remote or "unknown"


def parse_basic(value: str) -> tuple[str, str]:
    """The user name and secret of a Basic credential (``base64(user:secret)``); UnauthorizedError if
    it is not one."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid() from None
    username, sep, secret = decoded.partition(":")
    if not sep or not username or not secret or "\x00" in decoded:
        raise _invalid()
    return username, secret


async def authenticate(request: web.BaseRequest, checker: CredentialChecker) -> Principal:
    """The principal the request's ``Authorization`` header names (ANONYMOUS without one)."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None:
        return ANONYMOUS
    if len(header) > MAX_HEADER_LENGTH:
        raise _invalid()
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if not value:
        raise _invalid()
    client = client_address(request)
    if scheme == "basic":
        username, secret = parse_basic(value)
        return await checker.basic(username, secret, client)
    if scheme == "bearer":
        return await checker.bearer(value, client)
    raise _invalid()


async def principal_of(request: web.Request) -> Principal:
    """The request's principal, asked of the application's authenticator once and kept on the request.

    Raises UnauthorizedError for credentials that do not work (or cannot be read) and TooManyRequestsError
    when the caller's address or user name failed too often lately.
    """
    known = request.get(_PRINCIPAL_KEY)
    if isinstance(known, Principal):
        return known
    principal = await authenticate(request, request.config_dict[AUTHENTICATOR_KEY])
    request[_PRINCIPAL_KEY] = principal
    if principal.name is not None:
        request[USER_NAME_KEY] = principal.name
    return principal


def known_principal(request: web.Request) -> Principal:
    """The principal ``principal_of`` already settled for this request (ANONYMOUS if it was never asked)."""
    known = request.get(_PRINCIPAL_KEY)
    return known if isinstance(known, Principal) else ANONYMOUS
