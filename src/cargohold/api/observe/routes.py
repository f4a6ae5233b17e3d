"""Route kinds for metrics and logs, and request targets fit for a log line.

A kind is one of ``manifest``, ``blob``, ``upload`` (the /v2 content API), ``token`` (``/v2/token``),
``api`` (the management API ``/api/v1``), ``ui`` (the web UI) and ``other`` (the /v2 ping, tag lists, the
catalog, referrers, ``/healthz``, ``/readyz``, ``/metrics``, and anything unknown): a fixed, small set, so a
label never grows with the paths clients send.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlencode

ROUTE_KINDS: Final = ("manifest", "blob", "upload", "token", "api", "ui", "other")

_MANIFEST: Final = re.compile(r"^/v2/.+/manifests/[^/]+$")
_UPLOAD: Final = re.compile(r"^/v2/.+/blobs/uploads(/[^/]*)?$")
_BLOB: Final = re.compile(r"^/v2/.+/blobs/[^/]+$")
SECRET_QUERY_KEYS: Final = frozenset(
    {"password", "passwd", "secret", "client_secret", "token", "access_token", "refresh_token", "code"}
)
"""Query parameters whose values never reach a log line."""
MAX_LOGGED_TARGET: Final = 2048


def route_kind(path: str) -> str:
    """The kind of route ``path`` is (see the module docstring)."""
    if path.startswith("/v2/"):
        if path == "/v2/token":
            return "token"
        if _UPLOAD.match(path):
            return "upload"
        if _MANIFEST.match(path):
            return "manifest"
        if _BLOB.match(path):
            return "blob"
        return "other"
    if path == "/api/v1" or path.startswith("/api/v1/"):
        return "api"
    if path in ("/", "/ui") or path.startswith("/ui/"):
        return "ui"
    return "other"


def loggable_target(path: str, query_string: str) -> str:
    """``path?query`` with the values of secret-looking parameters replaced by ``***``, cut to a bound."""
    if not query_string:
        return path[:MAX_LOGGED_TARGET]
    pairs = parse_qsl(query_string, keep_blank_values=True)
    redacted = [(key, "***" if key.lower() in SECRET_QUERY_KEYS else value) for key, value in pairs]
    return f"{path}?{urlencode(redacted, safe=':/@*,')}"[:MAX_LOGGED_TARGET]
