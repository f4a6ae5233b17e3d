"""The HTTP client the management commands use to talk to a server's ``/api/v1`` (notes/management.md).

Owns ``ApiClient``: one blocking request at a time with the standard library (``urllib``; a command makes one
or two calls, so an event loop would buy nothing), JSON in and out, ``Authorization: Bearer $CARGOHOLD_TOKEN``
when a token is given, and ``CommandError``: every way a call can fail (connection refused, timeout, TLS,
an API error document, a non-JSON answer) turned into one line a user can act on. The client never logs or
echoes a request body, so a proxy password sent to the API appears nowhere else.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from typing import Any
from urllib.parse import quote, urlsplit

API_PREFIX = "/api/v1"
DEFAULT_SERVER = "http://127.0.0.1:5000"
# A proxy test may wait for an upstream's own connection timeout (up to 600 s) on several steps.
REQUEST_TIMEOUT_S = 900.0
_USER_AGENT = "cargohold-cli"


class CommandError(Exception):
    """A management command failed; ``str(error)`` is the one-line message for stderr."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(" ".join(message.split()))
        self.status = status
        self.code = code


def path(*segments: str) -> str:
    """``/api/v1/a/b``: each segment percent-encoded, except that an image name keeps its slashes."""
    return API_PREFIX + "".join(
        "/" + quote(segment, safe="/" if "/" in segment else "") for segment in segments
    )


def check_server_url(url: str) -> str:
    """The server's base URL without a trailing slash; ``ValueError`` when it is not http(s)://host[:port]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not have a query or fragment")
    return url.rstrip("/")


@dataclass(frozen=True)
class ApiClient:
    """Calls ``/api/v1`` on ``server`` (``http(s)://host:port``), with ``token`` as a Bearer token if set."""

    server: str
    token: str | None = None
    timeout: float = REQUEST_TIMEOUT_S

    def get(self, url_path: str) -> Any:
        """GET and return the decoded JSON answer."""
        return self.request("GET", url_path)

    def post(self, url_path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST ``body`` as JSON (or nothing) and return the decoded answer."""
        return self.request("POST", url_path, body)

    def patch(self, url_path: str, body: Mapping[str, Any]) -> Any:
        """PATCH ``body`` as JSON and return the decoded answer."""
        return self.request("PATCH", url_path, body)

    def delete(self, url_path: str) -> Any:
        """DELETE; the API answers 204, so this normally returns None."""
        return self.request("DELETE", url_path)

    def request(self, method: str, url_path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON answer (None for an empty body) or ``CommandError``."""
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.server + url_path, data=data, headers=headers, method=method)  # noqa: S310 - scheme checked
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _decode(method, url_path, response, response.read())
        except urllib.error.HTTPError as error:
            with error:
                raise _api_error(method, url_path, error.code, error.reason, error.read()) from None
        except urllib.error.URLError as error:
            raise CommandError(self._unreachable(error.reason)) from None
        except TimeoutError:
            raise CommandError(
                f"the server at {self.server} did not answer within {self.timeout:g} s"
            ) from None
        except (OSError, HTTPException) as error:
            raise CommandError(self._unreachable(error)) from None

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ssl.SSLCertVerificationError):
            detail = f"TLS certificate not trusted ({reason.verify_message})"
        elif isinstance(reason, ConnectionRefusedError):
            detail = "connection refused"
        elif isinstance(reason, socket.gaierror):
            detail = f"cannot resolve the host name ({reason.strerror})"
        elif isinstance(reason, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
        elif isinstance(reason, OSError) and reason.strerror:
            detail = reason.strerror
        else:
            detail = str(reason) or type(reason).__name__
        hint = "is cargohold serving there? see --server, CARGOHOLD_SERVER"
        return f"cannot reach the server at {self.server}: {detail} ({hint})"


def _decode(method: str, url_path: str, response: HTTPResponse, raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        content_type = response.headers.get("Content-Type", "unknown")
        raise CommandError(
            f"{method} {url_path} answered {response.status} with {content_type}, not JSON: "
            "is this a cargohold server?"
        ) from None


def _api_error(method: str, url_path: str, status: int, reason: str, raw: bytes) -> CommandError:
    """The API's error document ``{"error": {status, code, message, field}}`` as one line."""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message: str = error["message"]
        field = error.get("field")
        if isinstance(field, str) and field and field not in message:
            message = f"{field}: {message}"
        code = error.get("code") if isinstance(error.get("code"), str) else None
        return CommandError(message, status, code)
    if status == 404 and url_path.startswith(API_PREFIX) and document is None:
        return CommandError(
            f"{method} {url_path} answered 404 {reason}: this server has no management API", status
        )
    return CommandError(f"{method} {url_path} answered {status} {reason}", status)
