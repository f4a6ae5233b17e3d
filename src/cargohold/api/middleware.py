"""Middlewares every request passes through: the last-resort error guard.

A domain error is answered by its handler; anything else that escapes is a bug: it is logged with a
traceback and answered 500 in the OCI envelope (for /v2) without leaking internals to the client. A client
that went away while its response was being sent is not a bug: that is one line in the log.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from cargohold.api.oci.errors import plain_error

log = logging.getLogger(__name__)


CLIENT_CLOSED_REQUEST = 499
"""The status logged for a request whose client went away before its response was sent (nginx's code)."""


@web.middleware
async def error_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except TimeoutError as error:
        _log_gone(request, error)
        raise
    except ConnectionError as error:
        if not _client_went_away(request):
            return _unhandled(request)
        _log_gone(request, error)
        # Never sent (the connection is gone): the access log gets a status, aiohttp no traceback to log.
        return web.Response(status=CLIENT_CLOSED_REQUEST, reason="Client Closed Request")
    except Exception:
        return _unhandled(request)


def _client_went_away(request: web.Request) -> bool:
    """Whether this request's own connection has ended (a reset, a close, or aiohttp's "Connection lost"
    while a write waited): a connection error with the client still there is one of ours, a bug."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _log_gone(request: web.Request, error: BaseException) -> None:
    log.info("%s %s: client went away (%s)", request.method, request.rel_url.path[:300], error)


def _unhandled(request: web.Request) -> web.StreamResponse:
    incident = uuid.uuid4().hex[:12]
    log.exception("unhandled error %s in %s %s", incident, request.method, request.rel_url.path[:300])
    return plain_error(500, "UNKNOWN", f"internal error (incident {incident})", request.method)
