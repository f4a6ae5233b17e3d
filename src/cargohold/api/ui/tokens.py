"""The web UI's "Access tokens" screen: the signed-in user's personal access tokens.

Create one (a name and an optional lifetime), see the list (created, expires, last used, state; never a
secret), revoke one. A new token's secret is in the answer to the create POST only, shown once with a copy
button, and is not kept anywhere the UI could show it again (the page is ``no-store``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from aiohttp import web

from cargohold.api.ui import forms
from cargohold.api.ui.access import principal
from cargohold.api.ui.common import PREFIX, render, services
from cargohold.api.ui.session import Flash, see_other
from cargohold.auth.users import CreatedToken, UserAdmin
from cargohold.errors import RepositoryExistsError, ValidationFailedError

TOKENS_URL = f"{PREFIX}/tokens"
LIFETIMES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never"))


def _users(request: web.Request) -> UserAdmin:
    return services(request).users


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _me(request: web.Request) -> str:
    name = principal(request).name
    assert name is not None  # the session middleware lets only signed-in users through
    return name


async def _page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: CreatedToken | None = None,
    status: int = 200,
) -> web.Response:
    tokens = await _users(request).list_tokens(_me(request))
    now = datetime.now(UTC)
    context = {
        "title": "Access tokens",
        "tokens": tokens,
        "expired": {t.name for t in tokens if t.expires_at and _aware(t.expires_at) <= now},
        "values": values or {"expires": "90"},
        "errors": errors or {},
        "created": created,
        "lifetimes": LIFETIMES,
        "revoke_url": lambda name: f"{TOKENS_URL}/{quote(name, safe='')}/revoke",
        "nav": "tokens",
    }
    return render(request, "tokens.html", context, status=status)


async def tokens_page(request: web.Request) -> web.Response:
    return await _page(request)


async def create_token(request: web.Request) -> web.Response:
    form = await request.post()
    name = forms.text(form, "name")
    lifetime = forms.text(form, "expires")
    values = {"name": name, "expires": lifetime}
    if not name:
        return await _page(request, values=values, errors={"name": "Enter a name for the token."}, status=422)
    if lifetime not in {value for value, _ in LIFETIMES}:
        return await _page(request, values=values, errors={"expires": "Choose a lifetime."}, status=422)
    expires_at = datetime.now(UTC) + timedelta(days=int(lifetime)) if lifetime else None
    try:
        created = await _users(request).create_token(_me(request), name, expires_at)
    except ValidationFailedError as error:
        return await _page(request, values=values, errors={"name": forms.sentence(error.reason)}, status=422)
    except RepositoryExistsError:
        taken = {"name": "You already have a token with this name."}
        return await _page(request, values=values, errors=taken, status=409)
    return await _page(request, created=created)


async def revoke_token(request: web.Request) -> web.Response:
    name = request.match_info["token"]
    await _users(request).revoke_token(_me(request), name)
    return see_other(TOKENS_URL, Flash("success", f"Access token {name} revoked: it no longer works."))
