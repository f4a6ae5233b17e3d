"""The web UI as an aiohttp sub-application mounted at ``/ui``: Jinja2 templates, static CSS/JS, routes,
CSRF protection, sessions (every page but sign-in needs one) and error pages. It calls the management services
in-process (``ManagementServices``) and checks each route's permission (``access.needs``) before its handler.
The authenticator comes from the root application (``AUTHENTICATOR_KEY``); the session signing key from the
composition root (``SessionConfig``; without one, a random key that lasts as long as the process)."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cargohold.api.management.services import ManagementServices
from cargohold.api.ui import content, proxies, repositories, signin, tokens, users
from cargohold.api.ui.access import (
    SERVICES_KEY,
    SESSION_KEY,
    SessionConfig,
    needs,
    needs_admin,
    require_session,
)
from cargohold.api.ui.common import ASSETS_KEY, PREFIX, STATIC_DIR, asset_urls, error_pages
from cargohold.api.ui.format import FILTERS, GLOBALS
from cargohold.api.ui.session import csrf_protect
from cargohold.auth.principal import Action

PULL, DELETE, MANAGE = Action.PULL, Action.DELETE, Action.MANAGE


async def _to_list(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": f"{PREFIX}/"})


def build_ui_app(services: ManagementServices, session: SessionConfig) -> web.Application:
    """The ``/ui`` sub-application; mount it with ``app.add_subapp(PREFIX, build_ui_app(...))``."""
    ui = web.Application(middlewares=[csrf_protect, error_pages, require_session])
    ui[SERVICES_KEY] = services
    ui[SESSION_KEY] = session
    ui[ASSETS_KEY] = asset_urls()
    env = aiohttp_jinja2.setup(
        ui,
        loader=jinja2.PackageLoader("cargohold.api.ui", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        filters=FILTERS,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(GLOBALS)
    repo = "/repositories/{repo}"
    proxy = repo + "/proxies/{proxy}"
    routes = ui.router
    routes.add_get("/signin", signin.sign_in_page)
    routes.add_post("/signin", signin.sign_in)
    routes.add_post("/signout", signin.sign_out)
    routes.add_get("/", repositories.repository_list)
    routes.add_get("/repositories", _to_list)
    routes.add_get("/repositories/new", needs_admin(repositories.new_repository))
    routes.add_post("/repositories", needs_admin(repositories.create_repository))
    routes.add_get(repo, needs(PULL, repositories.repository_page))
    routes.add_get(repo + "/settings", needs(MANAGE, repositories.settings_page))
    routes.add_post(repo + "/settings", needs(MANAGE, repositories.update_settings))
    routes.add_post(repo + "/delete", needs(MANAGE, repositories.delete_repository))
    routes.add_get(repo + "/images", needs(PULL, content.images_page))
    routes.add_post(repo + "/images/delete", needs(DELETE, content.delete_content))
    routes.add_post(repo + "/purge", needs(MANAGE, content.purge))
    routes.add_get(repo + "/proxies/new", needs(MANAGE, proxies.new_proxy))
    routes.add_post(repo + "/proxies", needs(MANAGE, proxies.add_proxy))
    routes.add_get(proxy + "/edit", needs(MANAGE, proxies.edit_proxy))
    routes.add_post(proxy, needs(MANAGE, proxies.update_proxy))
    routes.add_post(proxy + "/delete", needs(MANAGE, proxies.remove_proxy))
    routes.add_post(proxy + "/move", needs(MANAGE, proxies.move_proxy))
    routes.add_post(proxy + "/active", needs(MANAGE, proxies.set_active))
    routes.add_post(proxy + "/test", needs(MANAGE, proxies.test_proxy))
    person = "/users/{user}"
    routes.add_get("/users", needs_admin(users.users_page))
    routes.add_post("/users", needs_admin(users.create_user))
    routes.add_get(person, needs_admin(users.user_page))
    routes.add_post(person + "/admin", needs_admin(users.set_admin))
    routes.add_post(person + "/grants", needs_admin(users.set_grant))
    routes.add_post(person + "/password", needs_admin(users.set_password))
    routes.add_post(person + "/delete", needs_admin(users.delete_user))
    routes.add_get("/tokens", tokens.tokens_page)
    routes.add_post("/tokens", tokens.create_token)
    routes.add_post("/tokens/{token}/revoke", tokens.revoke_token)
    routes.add_static("/static", STATIC_DIR, append_version=False)
    return ui


def add_ui(app: web.Application, services: ManagementServices, session: SessionConfig) -> None:
    """Mount the web UI at ``/ui/`` (``/ui`` and ``/`` redirect there); ``session`` signs its sessions."""

    async def to_ui(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": f"{PREFIX}/"})

    app.router.add_get("/", to_ui)
    app.router.add_get(PREFIX, to_ui)
    app.add_subapp(PREFIX, build_ui_app(services, session))
