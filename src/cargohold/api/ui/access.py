"""Who is using the web UI and what they may do there: the signed session cookie, the middleware that sends
every page without a session to the sign-in page, and the per-route permission guards.

A session is the cookie ``cargohold_session`` = ``base64url(json {"u": user, "iat", "exp", "n", "s"})`` ``.``
``base64url(HMAC-SHA256(key, payload))``; the key is the server key's ``SecretBox.derive("ui-session")``
(given by the composition root), so only this server can mint one and it outlives restarts and spans worker
processes. It is HttpOnly, SameSite=Strict, path ``/ui``, Secure when the public URL is https, and expires
after ``lifetime_seconds`` (the cookie's Max-Age and the signed ``exp`` alike). The cookie names the user and
carries a keyed stamp of their password hash: every request reads the user afresh, so a deleted user, or one
whose password changed, is signed out at once, and a changed role or grant applies to the next page. Pages
without a session redirect to ``/ui/signin?next=<path>``; ``next`` is
honoured only for a local ``/ui`` path (``safe_next``), never another site.

Permissions (``cargohold.auth.policy``): a repository page needs ``pull`` (so public repositories are
visible to every signed-in user, private ones only with a grant), changing content needs ``delete``,
everything else about a repository ``manage``; creating repositories and the users screen need a global
admin. A repository the user may not even pull answers 404, as if it did not exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from cargohold.api.auth.credentials import USER_NAME_KEY
from cargohold.api.management.services import ManagementServices
from cargohold.auth.policy import allowed, may_create_repositories, may_manage_users
from cargohold.auth.principal import Action, Principal
from cargohold.errors import DeniedError, NameUnknownError
from cargohold.models import Repository
from cargohold.registry.repositories import RepositoryView

SESSION_COOKIE: Final = "cargohold_session"
COOKIE_PATH: Final = "/ui"
PREFIX: Final = "/ui"
SIGN_IN: Final = f"{PREFIX}/signin"
DEFAULT_LIFETIME_S: Final = 8 * 3600
_OPEN_PATHS: Final = (SIGN_IN, f"{PREFIX}/static/")
SERVICES_KEY: Final = web.AppKey("ui_services", ManagementServices)
PRINCIPAL_KEY: Final = web.RequestKey("ui_principal", Principal)
_REPOSITORY_KEY: Final = web.RequestKey("ui_repository", RepositoryView)


@dataclass(frozen=True)
class SessionConfig:
    """How sessions are signed and kept: ``key`` (32 bytes from the server key), ``secure`` (the public
    URL is https), ``lifetime_seconds`` (how long a sign-in lasts)."""

    key: bytes
    secure: bool = False
    lifetime_seconds: int = DEFAULT_LIFETIME_S


SESSION_KEY: Final = web.AppKey("ui_session", SessionConfig)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def sign_session(config: SessionConfig, user: str, now: float | None = None, stamp: str = "") -> str:
    """A session cookie value for ``user``, valid for the configured lifetime from ``now``, bound to the
    user's ``stamp`` (``UserAdmin.session_stamp``: it changes with the password)."""
    issued = int(time.time() if now is None else now)
    body = {
        "u": user,
        "iat": issued,
        "exp": issued + config.lifetime_seconds,
        "n": secrets.token_hex(8),
        "s": _stamp_mac(config, stamp),
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_mac(config.key, payload)}"


def _stamp_mac(config: SessionConfig, stamp: str) -> str:
    """The stamp as the cookie carries it: keyed, so the cookie reveals nothing of the password hash."""
    return _mac(config.key, f"stamp:{stamp}")[:22]


def session_is_current(config: SessionConfig, value: str, stamp: str) -> bool:
    """Whether a cookie value (already accepted by ``read_session``) was signed with ``stamp``."""
    payload = value.partition(".")[0]
    try:
        signed = json.loads(_unb64(payload)).get("s")
    except (ValueError, AttributeError, binascii.Error):
        return False
    return isinstance(signed, str) and hmac.compare_digest(signed, _stamp_mac(config, stamp))


def read_session(config: SessionConfig, value: str, now: float | None = None) -> str | None:
    """The user a cookie value names, or None when it is forged, malformed or expired."""
    payload, dot, mac = value.partition(".")
    if not dot or len(value) > 1024 or not hmac.compare_digest(mac, _mac(config.key, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        user, expires = body["u"], body["exp"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    current = time.time() if now is None else now
    if not isinstance(user, str) or not user or not isinstance(expires, int) or expires <= current:
        return None
    return user


def set_session(response: web.StreamResponse, config: SessionConfig, user: str, stamp: str = "") -> None:
    """Start a session for ``user`` (whose ``UserAdmin.session_stamp`` is ``stamp``) on ``response``."""
    response.set_cookie(
        SESSION_COOKIE, sign_session(config, user, stamp=stamp), max_age=config.lifetime_seconds,
        path=COOKIE_PATH, httponly=True, samesite="Strict", secure=config.secure,
    )  # fmt: skip


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: ``value`` when it is a path inside the UI, else the UI's start page."""
    fallback = f"{PREFIX}/"
    if not value or len(value) > 2000 or "\\" in value or any(ord(c) < 0x20 for c in value):
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return fallback
    if parts.path != PREFIX and not parts.path.startswith(PREFIX + "/"):
        return fallback
    if parts.path.startswith(SIGN_IN):
        return fallback
    return value


async def session_stamp(services: ManagementServices, user: str) -> str | None:
    """The user's current session stamp (None: the user no longer exists)."""
    return await services.users.session_stamp(user)


async def principal_for(services: ManagementServices, user: str) -> Principal | None:
    """The signed-in user as a principal, read afresh (None: the user no longer exists)."""
    view = await services.users.get(user)
    if view is None:
        return None
    return Principal(name=view.name, is_admin=view.is_admin, grants=dict(view.grants))


def principal(request: web.Request) -> Principal:
    """The signed-in user of a UI request (the session middleware has set it)."""
    return request[PRINCIPAL_KEY]


def _to_sign_in(request: web.Request) -> web.Response:
    target = request.path_qs if request.method == "GET" else request.path
    start = request.path in (PREFIX, PREFIX + "/")
    location = SIGN_IN if start else f"{SIGN_IN}?next={quote(target, safe='')}"
    response = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    if SESSION_COOKIE in request.cookies:
        end_session(response)
    return response


def _open(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in _OPEN_PATHS)


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every UI page but sign-in and static files needs a session of an existing user."""
    if _open(request.path):
        return await handler(request)
    config, services = request.config_dict[SESSION_KEY], request.config_dict[SERVICES_KEY]
    cookie = request.cookies.get(SESSION_COOKIE, "")
    user = read_session(config, cookie)
    stamp = await session_stamp(services, user) if user else None
    if user is None or stamp is None or not session_is_current(config, cookie, stamp):
        return _to_sign_in(request)  # no session, a deleted user, or the password changed since sign-in
    found = await principal_for(services, user)
    if found is None:
        return _to_sign_in(request)
    request[PRINCIPAL_KEY] = found
    if found.name is not None:
        request[USER_NAME_KEY] = found.name
    return await handler(request)


# ------------------------------------------------------------------------------------------------- guards


def may(request: web.Request, repository: RepositoryView, action: Action) -> bool:
    """Whether the signed-in user may do ``action`` on ``repository``."""
    return allowed(principal(request), _model(repository), action)


def _model(repository: RepositoryView) -> Repository:
    return Repository(name=repository.name, visibility=repository.visibility)


def repository(request: web.Request) -> RepositoryView:
    """The repository of the path, as the guard loaded and checked it."""
    return request[_REPOSITORY_KEY]


def needs(action: Action, handler: Handler) -> Handler:
    """Wrap a ``/repositories/{repo}/…`` handler: 404 unless the user may pull the repository, then
    ``DeniedError`` (a 403 page) unless they may do ``action``."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        found = await request.config_dict[SERVICES_KEY].repositories.get(request.match_info["repo"])
        if not may(request, found, Action.PULL):
            raise NameUnknownError(f"repository {found.name[:80]!r} unknown")  # as if it did not exist
        if action is not Action.PULL and not may(request, found, action):
            raise DeniedError(_DENIED[action])
        request[_REPOSITORY_KEY] = found
        return await handler(request)

    return guarded


_DENIED: Final = {
    Action.PUSH: "You may not change the content of this repository.",
    Action.DELETE: "You may not delete content of this repository: that needs the write permission.",
    Action.MANAGE: "You may not manage this repository: that needs the admin permission on it.",
}


def needs_admin(handler: Handler) -> Handler:
    """Wrap a handler only global admins may use (users screen, creating repositories)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not may_manage_users(principal(request)):
            raise DeniedError("Only administrators may do this.")
        return await handler(request)

    return guarded


def may_create(request: web.Request) -> bool:
    return may_create_repositories(principal(request))


def is_admin(request: web.Request) -> bool:
    return may_manage_users(principal(request))
