"""Builds the aiohttp application from services: the /v2 API, health endpoints, middlewares."""

from __future__ import annotations

from aiohttp import web

from cargohold.api.management.services import ManagementServices
from cargohold.api.middleware import error_guard
from cargohold.api.oci.routes import add_routes
from cargohold.api.oci.services import OciServices
from cargohold.api.ui.app import add_ui

MAX_REQUEST_BODY = 4 * 1024 * 1024
"""Bodies read whole (manifests, JSON); blob uploads are streamed and not bounded by this."""


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_web_app(oci: OciServices, management: ManagementServices | None = None) -> web.Application:
    app = web.Application(middlewares=[error_guard], client_max_size=MAX_REQUEST_BODY)
    add_routes(app, oci)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    if management is not None:
        # web UI: /ui/ (a sub-application with its own CSRF middleware and templates); / and /ui redirect
        add_ui(app, management)
    return app
