"""The one table from domain errors to HTTP status and OCI error code, and the JSON error envelope.

Codes are the distribution spec's own table (v1.1 says a code MUST be one of them), so conditions the spec
has no code for borrow the nearest one and say what happened in the message: a malformed tag is
MANIFEST_INVALID (on a push; a pull by one finds nothing, see ``manifests``), a bad page size UNSUPPORTED,
an unsatisfiable range SIZE_INVALID. UNAVAILABLE (503, from Distribution) is the one addition: when every
upstream failed no spec code fits at all. A body that stops arriving is answered 408 with
BLOB_UPLOAD_INVALID.

Every /v2 error leaves in the distribution spec's envelope::

    {"errors": [{"code": "BLOB_UNKNOWN", "message": "…", "detail": {…}}]}

A caller who may not manage the repository gets what each proxy did, not how it failed (``for_outsider``).
"""

from __future__ import annotations

import copy
import json
from typing import Final

from aiohttp import web

from cargohold import errors
from cargohold.api.oci.bodies import BodyTimeoutError

API_VERSION_HEADER: Final = {"Docker-Distribution-Api-Version": "registry/2.0"}
UPSTREAM_HEADER: Final = "Cargohold-Upstream"
"""Names the proxy a response's content came through."""
CACHE_OUTCOME_KEY: Final = web.RequestKey("cargohold_cache_outcome", str)
"""``hit`` (local or cached content) or ``miss`` (fetched through a proxy) for a manifest or blob pull; what
the access log and the latency histogram read."""

# Most specific class first: the first entry the error is an instance of wins.
ERROR_TABLE: Final[tuple[tuple[type[errors.RegistryError], int, str], ...]] = (
    (errors.UploadRangeError, 416, "BLOB_UPLOAD_INVALID"),
    (errors.BlobUploadInvalidError, 400, "BLOB_UPLOAD_INVALID"),
    (errors.BlobUploadUnknownError, 404, "BLOB_UPLOAD_UNKNOWN"),
    (errors.BlobUnknownError, 404, "BLOB_UNKNOWN"),
    (errors.DigestInvalidError, 400, "DIGEST_INVALID"),
    (errors.ManifestBlobUnknownError, 400, "MANIFEST_BLOB_UNKNOWN"),
    (errors.ManifestInvalidError, 400, "MANIFEST_INVALID"),
    (errors.ManifestUnknownError, 404, "MANIFEST_UNKNOWN"),
    (errors.NameInvalidError, 400, "NAME_INVALID"),
    (errors.NameUnknownError, 404, "NAME_UNKNOWN"),
    (errors.ManifestTooLargeError, 413, "SIZE_INVALID"),
    (errors.SizeInvalidError, 400, "SIZE_INVALID"),
    (errors.TagInvalidError, 400, "MANIFEST_INVALID"),
    (errors.PaginationInvalidError, 400, "UNSUPPORTED"),
    (errors.RangeNotSatisfiableError, 416, "SIZE_INVALID"),
    (errors.UnsupportedError, 405, "UNSUPPORTED"),
    (errors.UnauthorizedError, 401, "UNAUTHORIZED"),
    (errors.DeniedError, 403, "DENIED"),
    (errors.TooManyRequestsError, 429, "TOOMANYREQUESTS"),
    (errors.StorageFullError, 507, "DENIED"),
    (errors.UnavailableError, 503, "UNAVAILABLE"),
    (BodyTimeoutError, 408, "BLOB_UPLOAD_INVALID"),
)


def status_and_code(error: errors.RegistryError) -> tuple[int, str]:
    for cls, status, code in ERROR_TABLE:
        if isinstance(error, cls):
            return status, code
    return 400, "UNSUPPORTED"


def envelope(code: str, message: str, detail: object = None) -> bytes:
    entry: dict[str, object] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}).encode()


def for_outsider(error: errors.RegistryError) -> errors.RegistryError:
    """``error`` as a caller who does not manage the repository sees it. When proxies failed, the detail
    says what each one did (its outcome) but not its messages, which name hosts, ports and TLS details:
    those are for the admins, in the log and the management API."""
    detail = error.detail
    if not isinstance(detail, list) or not all(
        isinstance(entry, dict) and "proxy" in entry and "outcome" in entry for entry in detail
    ):
        return error
    outcomes = [{"proxy": entry["proxy"], "outcome": entry["outcome"]} for entry in detail]
    shown = copy.copy(error)
    shown.detail = outcomes
    if isinstance(error, errors.UnavailableError | errors.TooManyRequestsError):
        summary = "; ".join(f"proxy {entry['proxy']}: {entry['outcome']}" for entry in outcomes)
        shown.message = f"no proxy could answer: {summary}" if summary else "no proxy could answer"
    return shown


def error_response(error: errors.RegistryError, method: str = "GET") -> web.Response:
    """The HTTP answer for a domain error, with the headers some conditions require."""
    status, code = status_and_code(error)
    headers = dict(API_VERSION_HEADER)
    if isinstance(error, errors.UploadRangeError):
        headers["Range"] = f"0-{max(error.offset - 1, 0)}"
        headers["Docker-Upload-UUID"] = error.upload_id
    elif isinstance(error, errors.RangeNotSatisfiableError):
        headers["Content-Range"] = f"bytes */{error.size}"
    elif (
        isinstance(error, errors.TooManyRequestsError | errors.UnavailableError)
        and error.retry_after is not None
    ):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, BodyTimeoutError):
        headers["Connection"] = "close"
    body = envelope(code, error.message, error.detail)
    if method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def plain_error(status: int, code: str, message: str, method: str = "GET") -> web.Response:
    headers = dict(API_VERSION_HEADER)
    body = envelope(code, message)
    if method == "HEAD":
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)
