"""The management API's JSON error shape, the one table from domain errors to it, and the middleware that
gives every /api/v1 answer that is not a success that shape (unknown routes, wrong methods, bugs included).

    {"error": {"status": 422, "code": "invalid", "message": "connection_timeout_ms: …",
               "field": "connection_timeout_ms"}}

``field`` appears only on validation errors. Messages name fields and reasons and never echo a value a user
sent (a password must not come back in an error either). A 401 carries ``WWW-Authenticate: Basic
realm="cargohold"``, a 429 ``Retry-After``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from cargohold import errors
from cargohold.api.management.access import CHALLENGE
from cargohold.api.management.schemas import Error, ErrorDetail

log = logging.getLogger(__name__)

API_PREFIX: Final = "/api/v1"

CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}

# Most specific class first: the first entry the error is an instance of wins.
ERROR_TABLE: Final[tuple[tuple[type[errors.CargoholdError], int], ...]] = (
    (errors.ValidationFailedError, 422),
    (errors.UnauthorizedError, 401),
    (errors.DeniedError, 403),
    (errors.TooManyRequestsError, 429),
    (errors.NameUnknownError, 404),
    (errors.ProxyUnknownError, 404),
    (errors.UserUnknownError, 404),
    (errors.ManifestUnknownError, 404),
    (errors.BlobUnknownError, 404),
    # a name or tag that cannot exist names nothing: the resource is not there
    (errors.NameInvalidError, 404),
    (errors.TagInvalidError, 404),
    (errors.DigestInvalidError, 404),
    (errors.RepositoryExistsError, 409),
    (errors.ManagedByConfigError, 409),
    (errors.PreconditionFailedError, 412),
    (errors.ConfigError, 422),
)


class ApiError(Exception):
    """An error answer decided by the HTTP layer itself (malformed JSON, body too large, bad fields)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = Error(
        error=ErrorDetail(status=status, code=CODES.get(status, "error"), message=message, field=field)
    )
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type="application/json",
        headers=headers,
    )


def domain_status(error: errors.CargoholdError) -> int:
    for cls, status in ERROR_TABLE:
        if isinstance(error, cls):
            return status
    return 400


def domain_error_response(error: errors.CargoholdError) -> web.Response:
    field = error.field if isinstance(error, errors.ValidationFailedError) else None
    status = domain_status(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = CHALLENGE
    if isinstance(error, errors.TooManyRequestsError):
        headers["Retry-After"] = str(max(1, error.retry_after or 1))
    elif isinstance(error, errors.UnavailableError) and error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return error_response(status, error.message, field, headers or None)


@web.middleware
async def management_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every /api/v1 failure in the JSON error shape; leave other paths alone."""
    path = request.rel_url.path
    if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as error:
        log.info("%s %s -> %d %s", request.method, path[:300], error.status, error.message)
        return error_response(error.status, error.message, error.field)
    except errors.CargoholdError as error:
        log.info("%s %s -> %s", request.method, path[:300], error.message)
        return domain_error_response(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return error_response(error.status, error.reason, headers=headers)
    except (ConnectionResetError, TimeoutError):
        raise
    except Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s in %s %s", incident, request.method, path[:300])
        return error_response(500, f"internal error (incident {incident})")
