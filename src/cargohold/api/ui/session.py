"""Per-browser state of the web UI kept in cookies: the CSRF token and the one-shot flash message.

Every visitor gets a random token in the ``cargohold_csrf`` cookie (HttpOnly, SameSite=Strict, path /ui);
every form carries it in a hidden ``csrf_token`` field and every POST must send both, equal, or it is
refused with 403 before any handler runs. Another site can neither read the cookie nor guess the token.
A flash is a short notice set on a POST-redirect-GET redirect and shown (then dropped) by the next page.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

from aiohttp import web
from aiohttp.typedefs import Handler

CSRF_COOKIE: Final = "cargohold_csrf"
CSRF_FIELD: Final = "csrf_token"
FLASH_COOKIE: Final = "cargohold_flash"
COOKIE_PATH: Final = "/ui"
_TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CSRF_KEY: Final = "cargohold.ui.csrf"


@dataclass(frozen=True, slots=True)
class Flash:
    """A notice for the next page: ``kind`` is ``success`` or ``error``."""

    kind: str
    text: str


def csrf_token(request: web.Request) -> str:
    """The token the forms of this response must carry."""
    token: str = request[_CSRF_KEY]
    return token


def see_other(location: str, flash: Flash | None = None) -> web.Response:
    """``303 See Other`` to ``location`` (the R and G of POST-redirect-GET), with an optional notice."""
    response = web.Response(status=303, headers={"Location": location})
    if flash is not None:
        value = quote(json.dumps({"kind": flash.kind, "text": flash.text[:500]}), safe="")
        response.set_cookie(FLASH_COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="Strict")
    return response


def read_flash(request: web.Request) -> Flash | None:
    """The notice the previous redirect left, if any (kinds other than success/error are ignored)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
        kind, text = str(data["kind"]), str(data["text"])[:500]
    except (ValueError, KeyError, TypeError):
        return None
    return Flash(kind, text) if kind in ("success", "error") else None


def _forbidden() -> web.Response:
    return web.Response(
        status=403,
        text="This form has expired or did not come from cargohold. Go back, reload the page and try again.",
    )


@web.middleware
async def csrf_protect(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Issue the token on first visit; refuse any POST whose form field does not match the cookie."""
    token = request.cookies.get(CSRF_COOKIE, "")
    fresh = not _TOKEN_RE.fullmatch(token)
    if fresh:
        token = secrets.token_urlsafe(32)
    request[_CSRF_KEY] = token
    if request.method not in ("GET", "HEAD"):
        if fresh:
            return _forbidden()
        form = await request.post()
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), token.encode()):
            return _forbidden()
    response = await handler(request)
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="Strict", secure=request.secure
        )
    if request.method == "GET" and FLASH_COOKIE in request.cookies and response.status == 200:
        response.del_cookie(FLASH_COOKIE, path=COOKIE_PATH)
    return response
