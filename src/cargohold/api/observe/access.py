"""The access log and the request metrics, from one hook every finished request passes once.

``RequestObserver`` is the aiohttp access logger of the server: aiohttp calls it after a response's last
byte went out (a cached blob's ``sendfile`` included) or after the client went away, with the time since
the request arrived. It observes the request's latency in the metrics, then writes one access-log line
(logger ``cargohold.access``, level INFO) whose fields also travel as the record's ``access`` attribute,
which the JSON log format writes out one by one.

Fields: method, path (the query's secret-looking values replaced), status, bytes, duration (seconds), user
(``-`` when anonymous), client (the peer address), user_agent, upstream (the proxy a response came through,
``-`` for local content), cache (``hit``, ``miss``, or ``-`` where it does not apply). Headers, credentials
and bodies are never logged.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from cargohold.api.auth.credentials import USER_NAME_KEY
from cargohold.api.forwarded import forwarded_client
from cargohold.api.observe.metrics import HttpMetrics
from cargohold.api.observe.routes import loggable_target, route_kind
from cargohold.api.oci.errors import CACHE_OUTCOME_KEY, UPSTREAM_HEADER

ACCESS_LOGGER: Final = "cargohold.access"
HTTP_METRICS_KEY: Final = web.AppKey("cargohold_http_metrics", HttpMetrics)
MAX_USER_AGENT: Final = 256
NO_VALUE: Final = "-"


class RequestObserver(AbstractAccessLogger):
    """aiohttp's access-log hook: metrics for every request, a log line when INFO is on. aiohttp builds the
    instance itself; ``observer_class`` gives it the metrics."""

    metrics: HttpMetrics | None = None

    @property
    def enabled(self) -> bool:
        return True  # always called, so the metrics see every request even when the log is quieter

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = route_kind(request.path)
        cache = request.get(CACHE_OUTCOME_KEY, NO_VALUE)
        if self.metrics is not None:
            self.metrics.observe(route, cache, response.status, time)
        if not self.logger.isEnabledFor(logging.INFO):
            return
        fields = access_fields(request, response, time, cache)
        version = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %s %s upstream=%s cache=%s user=%s %.4fs "%s"',
            fields["client"], fields["method"], fields["path"], version.major, version.minor,
            fields["status"], fields["bytes"], fields["upstream"], fields["cache"], fields["user"], time,
            fields["user_agent"], extra={"access": fields},
        )  # fmt: skip


def observer_class(metrics: HttpMetrics) -> type[RequestObserver]:
    """The access-log class for ``web.run_app(access_log_class=…)``, observing into ``metrics``."""
    return type("BoundRequestObserver", (RequestObserver,), {"metrics": metrics})


@web.middleware
async def count_in_flight(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request in the in-flight gauge while its handler runs."""
    gauge = request.app[HTTP_METRICS_KEY].in_flight
    gauge.inc()
    try:
        return await handler(request)
    finally:
        gauge.dec()


def access_fields(
    request: web.BaseRequest, response: web.StreamResponse, seconds: float, cache: str
) -> dict[str, Any]:
    """The access-log fields of one finished request (see the module docstring)."""
    return {
        "method": request.method,
        "path": loggable_target(request.path, request.query_string),
        "status": response.status,
        "bytes": _body_bytes(request, response),
        "duration": round(seconds, 6),
        "user": request.get(USER_NAME_KEY, NO_VALUE),
        "client": forwarded_client(request) or request.remote or NO_VALUE,
        "user_agent": request.headers.get(hdrs.USER_AGENT, NO_VALUE)[:MAX_USER_AGENT],
        "upstream": response.headers.get(UPSTREAM_HEADER, NO_VALUE),
        "cache": cache,
    }


def _body_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """Bytes of body sent: the Content-Length (aiohttp's own count leaves out what went by sendfile), else
    aiohttp's count; 0 for HEAD."""
    if request.method == hdrs.METH_HEAD:
        return 0
    length = response.content_length
    return length if length is not None else response.body_length
