"""The web UI's sign-in page and signing out.

Sign-in takes a user name with a password (or one of the user's access tokens in the password field), or an
access token alone; the application's authenticator checks them (``AUTHENTICATOR_KEY``, constant time, failed
attempts counted per client address and user). A success starts a session (``access.set_session``) and sends
the user on to ``next`` when that is a local UI path; a failure says only "wrong user name or password" (never
which part was wrong) and keeps the typed user name but never the secret. Too many failures answer 429 with
the time to wait. Signing out is a POST (CSRF-protected) that ends the session.
"""

from __future__ import annotations

import math

from aiohttp import web

from cargohold.api.auth.credentials import AUTHENTICATOR_KEY, client_address
from cargohold.api.ui import forms
from cargohold.api.ui.access import (
    SERVICES_KEY,
    SESSION_KEY,
    SIGN_IN,
    end_session,
    safe_next,
    session_stamp,
    set_session,
)
from cargohold.api.ui.common import render
from cargohold.api.ui.session import COOKIE_PATH, CSRF_COOKIE, Flash, see_other
from cargohold.auth.principal import Principal
from cargohold.errors import TooManyRequestsError, UnauthorizedError

ACCESS_TOKEN_PREFIX = "cgh_"  # noqa: S105 - how an access token begins, not a secret
_MAX_FIELD = 4096


def _page(
    request: web.Request,
    *,
    method: str,
    next_path: str,
    username: str = "",
    error: str = "",
    status: int = 200,
) -> web.Response:
    context = {
        "title": "Sign in",
        "method": method,
        "next_path": next_path,
        "values": {"username": username},
        "error": error,
        "signin_url": SIGN_IN,
    }
    return render(request, "signin.html", context, status=status)


async def sign_in_page(request: web.Request) -> web.Response:
    method = "token" if request.query.get("method") == "token" else "password"
    return _page(request, method=method, next_path=safe_next(request.query.get("next")))


def _wait(error: TooManyRequestsError) -> str:
    seconds = error.retry_after or 60
    if seconds >= 90:
        return f"about {math.ceil(seconds / 60)} minutes"
    return f"{seconds} seconds"


async def sign_in(request: web.Request) -> web.Response:
    form = await request.post()
    method = "token" if forms.text(form, "method") == "token" else "password"
    next_path = safe_next(forms.text(form, "next"))
    username = forms.text(form, "username")[:_MAX_FIELD]
    secret = form.get("password" if method == "password" else "token")
    secret = secret.strip() if isinstance(secret, str) else ""
    if method == "password" and (not username or not secret):
        missing = "Enter your user name and password."
        return _page(
            request, method=method, next_path=next_path, username=username, error=missing, status=422
        )
    if method == "token" and not secret:
        return _page(request, method=method, next_path=next_path, error="Paste an access token.", status=422)
    authenticator = request.config_dict[AUTHENTICATOR_KEY]
    client = client_address(request)
    try:
        if method == "password":
            found: Principal = await authenticator.basic(username, secret[:_MAX_FIELD], client)
        elif secret.startswith(ACCESS_TOKEN_PREFIX):
            found = await authenticator.bearer(secret[:_MAX_FIELD], client)
        else:
            raise UnauthorizedError("invalid credentials")
    except TooManyRequestsError as error:
        text = f"Too many failed sign-ins. Wait {_wait(error)} before trying again."
        response = _page(
            request, method=method, next_path=next_path, username=username, error=text, status=429
        )
        if error.retry_after:
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    except UnauthorizedError:
        text = "Wrong user name or password." if method == "password" else "That access token does not work."
        return _page(request, method=method, next_path=next_path, username=username, error=text, status=401)
    if found.name is None or found.token_scopes is not None:
        return _page(request, method=method, next_path=next_path, error="Sign in as a user.", status=401)
    response = see_other(next_path)
    stamp = await session_stamp(request.config_dict[SERVICES_KEY], found.name) or ""
    set_session(response, request.config_dict[SESSION_KEY], found.name, stamp)
    response.del_cookie(CSRF_COOKIE, path=COOKIE_PATH)  # a new CSRF token for the new session
    return response


async def sign_out(request: web.Request) -> web.Response:
    response = see_other(SIGN_IN, Flash("success", "You are signed out."))
    end_session(response)
    response.del_cookie(CSRF_COOKIE, path=COOKIE_PATH)
    return response
