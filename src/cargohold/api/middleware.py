"""Middlewares every request passes through: the last-resort error guard.

A domain error is answered by its handler; anything else that escapes is a bug: it is logged with a
traceback and answered 500 in the OCI envelope (for /v2) without leaking internals to the client.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from cargohold.api.oci.errors import plain_error

log = logging.getLogger(__name__)


@web.middleware
async def error_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ConnectionResetError, TimeoutError) as error:
        log.info("%s %s: client went away (%s)", request.method, request.rel_url.path[:300], error)
        raise
    except Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s in %s %s", incident, request.method, request.rel_url.path[:300])
        return plain_error(500, "UNKNOWN", f"internal error (incident {incident})", request.method)
