"""Middlewares every request passes through: the last-resort error guard; and the event loop's handler of
refused connections.

A domain error is answered by its handler; anything else that escapes is a bug: it is logged with a
traceback and answered 500 in the OCI envelope (for /v2) without leaking internals to the client. A client
that went away while its response was being sent is not a bug: that is one line in the log. Neither is a
process out of file descriptors (or the system out of file table entries): a request that needed one gets
503 with ``Retry-After``, and the event loop's failing ``accept()`` (which it retries every second) is not
logged with a traceback per try; both say so once per ``EXHAUSTED_LOG_SECONDS``. Nor is a full disk under a
write that is not an upload (a manifest): 507 in the OCI envelope.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
import uuid
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from cargohold.api.oci.errors import plain_error
from cargohold.registry.space import FULL_ERRNOS

log = logging.getLogger(__name__)


CLIENT_CLOSED_REQUEST = 499
"""The status logged for a request whose client went away before its response was sent (nginx's code)."""
EXHAUSTED_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE})
EXHAUSTED_LOG_SECONDS: Final = 60.0
RETRY_AFTER_SECONDS: Final = 1


class _Throttled:
    """A warning said at most once per interval, counting what it kept quiet."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: float | None = None
        self._quiet = 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self._interval:
            self._quiet += 1
            return
        quiet, self._quiet, self._last = self._quiet, 0, now
        log.warning("%s (%d more since the last warning)", message, quiet)


_EXHAUSTED = _Throttled(EXHAUSTED_LOG_SECONDS)
_FULL = _Throttled(EXHAUSTED_LOG_SECONDS)


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
    except OSError as error:
        if error.errno in FULL_ERRNOS:  # a manifest or a small write on a full disk: nothing was kept
            _FULL.warn(f"the disk is full: answering 507 ({error.strerror})")
            return plain_error(507, "DENIED", "the registry's storage is full", request.method)
        if error.errno not in EXHAUSTED_ERRNOS:
            return _unhandled(request)
        _EXHAUSTED.warn(f"out of file descriptors: answering 503 ({error.strerror})")
        response = plain_error(
            503, "UNAVAILABLE", "the server is out of resources; retry shortly", request.method
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    except Exception:
        return _unhandled(request)


def quiet_refused_connections(loop: asyncio.AbstractEventLoop) -> None:
    """Make the loop report an ``accept()`` that failed for want of descriptors as one throttled warning,
    not a traceback per try (it pauses and retries accepting by itself); other reports go on as before."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in EXHAUSTED_ERRNOS:
            _EXHAUSTED.warn(f"out of file descriptors: new connections wait ({error.strerror})")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


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
