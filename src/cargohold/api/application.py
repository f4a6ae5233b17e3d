"""Builds the aiohttp application from services: authentication and the token endpoint, the /v2 API, health
endpoints, middlewares."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from cargohold.api.auth.setup import HttpAuth, install_auth
from cargohold.api.forwarded import Network, trust_forwarded_headers
from cargohold.api.health import Readiness, add_health_routes
from cargohold.api.management.errors import management_errors
from cargohold.api.management.metrics import METRICS_CONFIG_KEY, MetricsConfig, add_metrics_route
from cargohold.api.management.routes import add_routes as add_management_routes
from cargohold.api.management.services import ManagementServices
from cargohold.api.middleware import error_guard, quiet_refused_connections
from cargohold.api.observe.access import HTTP_METRICS_KEY, count_in_flight
from cargohold.api.observe.metrics import HttpMetrics
from cargohold.api.oci.routes import add_routes
from cargohold.api.oci.services import OciServices
from cargohold.api.ui.access import SessionConfig
from cargohold.api.ui.app import add_ui

MAX_REQUEST_BODY = 4 * 1024 * 1024
"""Bodies read whole (manifests, JSON); blob uploads are streamed and not bounded by this."""


async def _quiet_refused_connections(app: web.Application) -> None:
    quiet_refused_connections(asyncio.get_running_loop())


def build_web_app(
    oci: OciServices,
    auth: HttpAuth,
    management: ManagementServices,
    ui_session: SessionConfig,
    readiness: Readiness,
    http_metrics: HttpMetrics,
    metrics_access: MetricsConfig,
    trusted_proxies: Sequence[Network] = (),
) -> web.Application:
    # the forwarded headers of a trusted proxy first, so that every later step sees the client's address;
    # management_errors answers /api/v1 failures in the management API's JSON shape; other paths pass through
    middlewares = [trust_forwarded_headers(trusted_proxies), count_in_flight, error_guard, management_errors]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST_BODY)
    app[HTTP_METRICS_KEY] = http_metrics
    app.on_startup.append(_quiet_refused_connections)
    # authentication: the authenticator every area reads credentials with
    install_auth(app, auth)
    # the /v2 API: /v2/token (routed before the /v2 catch-all), then /v2
    add_routes(app, oci, auth)
    # /healthz (alive) and /readyz (database, blob store, free space): public
    add_health_routes(app, readiness)
    # management REST API: /api/v1 (+ /api/v1/openapi.json) and /metrics
    add_management_routes(app, management)
    app[METRICS_CONFIG_KEY] = MetricsConfig(
        metrics_access.public, metrics_access.token, [*metrics_access.collectors, *http_metrics.collectors()]
    )
    add_metrics_route(app)
    # web UI: /ui/ (a sub-application with its own CSRF middleware and templates); / and /ui redirect
    add_ui(app, management, ui_session)
    return app
