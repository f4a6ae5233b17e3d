"""The web UI as an aiohttp sub-application mounted at ``/ui``: Jinja2 templates, static CSS/JS, routes,
CSRF protection and error pages. It calls the management services in-process (``ManagementServices``)."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cargohold.api.management.services import ManagementServices
from cargohold.api.ui import content, proxies, repositories
from cargohold.api.ui.common import ASSETS_KEY, PREFIX, SERVICES_KEY, STATIC_DIR, asset_urls, error_pages
from cargohold.api.ui.format import FILTERS, GLOBALS
from cargohold.api.ui.session import csrf_protect


async def _to_list(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": f"{PREFIX}/"})


def build_ui_app(services: ManagementServices) -> web.Application:
    """The ``/ui`` sub-application; mount it with ``app.add_subapp(PREFIX, build_ui_app(...))``."""
    ui = web.Application(middlewares=[csrf_protect, error_pages])
    ui[SERVICES_KEY] = services
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
    routes.add_get("/", repositories.repository_list)
    routes.add_get("/repositories", _to_list)
    routes.add_get("/repositories/new", repositories.new_repository)
    routes.add_post("/repositories", repositories.create_repository)
    routes.add_get(repo, repositories.repository_page)
    routes.add_get(repo + "/settings", repositories.settings_page)
    routes.add_post(repo + "/settings", repositories.update_settings)
    routes.add_post(repo + "/delete", repositories.delete_repository)
    routes.add_get(repo + "/images", content.images_page)
    routes.add_post(repo + "/images/delete", content.delete_content)
    routes.add_post(repo + "/purge", content.purge)
    routes.add_get(repo + "/proxies/new", proxies.new_proxy)
    routes.add_post(repo + "/proxies", proxies.add_proxy)
    routes.add_get(proxy + "/edit", proxies.edit_proxy)
    routes.add_post(proxy, proxies.update_proxy)
    routes.add_post(proxy + "/delete", proxies.remove_proxy)
    routes.add_post(proxy + "/move", proxies.move_proxy)
    routes.add_post(proxy + "/active", proxies.set_active)
    routes.add_post(proxy + "/test", proxies.test_proxy)
    routes.add_static("/static", STATIC_DIR, append_version=False)
    return ui


def add_ui(app: web.Application, services: ManagementServices) -> None:
    """Mount the web UI at ``/ui/`` (``/ui`` and ``/`` redirect there)."""

    async def to_ui(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": f"{PREFIX}/"})

    app.router.add_get("/", to_ui)
    app.router.add_get(PREFIX, to_ui)
    app.add_subapp(PREFIX, build_ui_app(services))
