"""What every web UI handler shares: the services it calls, page rendering with the CSRF token, the flash,
the signed-in user and static asset URLs, and the error pages for unknown repositories, proxies and users,
config-owned changes and actions the user may not take."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from cargohold.api.management.services import ManagementServices
from cargohold.api.ui.access import PRINCIPAL_KEY, SERVICES_KEY, is_admin, may
from cargohold.api.ui.session import CSRF_FIELD, csrf_token, read_flash
from cargohold.auth.principal import Action
from cargohold.errors import (
    CargoholdError,
    DeniedError,
    ManagedByConfigError,
    NameUnknownError,
    ProxyUnknownError,
    UserUnknownError,
    ValidationFailedError,
)

log = logging.getLogger(__name__)

PREFIX: Final = "/ui"
STATIC_DIR: Final = Path(__file__).parent / "static"
ASSETS_KEY: Final = web.AppKey("ui_assets", dict[str, str])


def services(request: web.Request) -> ManagementServices:
    return request.config_dict[SERVICES_KEY]


def asset_urls() -> dict[str, str]:
    """``app.css`` → ``/ui/static/app.css?v=<hash>``: browsers may cache them and still see a new release."""
    urls = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            version = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            urls[path.name] = f"{PREFIX}/static/{path.name}?v={version}"
    return urls


def repo_url(repository: str, *rest: str) -> str:
    """``/ui/repositories/<repository>/<rest…>`` with every part escaped."""
    parts = [quote(repository, safe=""), *(quote(part, safe="") for part in rest)]
    return f"{PREFIX}/repositories/" + "/".join(parts)


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """Render a page with what every page needs (CSRF token, flash, asset URLs)."""
    signed_in = request.get(PRINCIPAL_KEY)
    full = {
        "nav": "",
        "user": signed_in.name if signed_in is not None else None,
        "user_is_admin": signed_in is not None and is_admin(request),
        "can": lambda repo, action: signed_in is not None and may(request, repo, Action(action)),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "flash": read_flash(request),
        "assets": request.config_dict[ASSETS_KEY],
        "repo_url": repo_url,
        "request_path": request.path,
        "request_host": request.host,
        **context,
    }
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return response


def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return render(request, "error.html", {"title": title, "message": message}, status=status)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors a handler did not turn into a form message become a readable page."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error_page(request, 404, "Page not found", "There is nothing at this address.")
    except (NameUnknownError, ProxyUnknownError, UserUnknownError) as error:
        return _error_page(request, 404, "Not found", error.message)
    except DeniedError as error:
        return _error_page(request, 403, "Not allowed", error.message)
    except ManagedByConfigError:
        message = "This repository is defined in the configuration file; change it there and restart."
        return _error_page(request, 409, "Managed by the configuration file", message)
    except ValidationFailedError as error:
        return _error_page(request, 422, "That cannot be used", f"{error.field}: {error.reason}")
    except CargoholdError as error:
        log.info("%s %s -> %s", request.method, request.path[:300], error.message)
        return _error_page(request, 400, "That did not work", error.message)
