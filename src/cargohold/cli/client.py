"""The HTTP client the management commands use to talk to a server's ``/api/v1`` (docs/architecture.md),
and the credentials it sends.

Owns ``ApiClient``: one blocking request at a time with the standard library (``urllib``; a command makes one
or two calls, so an event loop would buy nothing), JSON in and out, and ``CommandError``: every way a call can
fail (connection refused, timeout, TLS, an API error document, a non-JSON answer) turned into one line a user
can act on. The client never logs or echoes a request body, so a password sent to the API appears nowhere
else.

Credentials (docs/access.md): a call carries ``Authorization: Bearer <token>`` where the token is the
one given to the client (``$CARGOHOLD_TOKEN``), else the one ``cargohold login`` stored for that server in
``$XDG_CONFIG_HOME/cargohold/credentials.json`` (default ``~/.config``). That file names the server of the
last login (``current``: the commands' default ``--server``) and maps server URLs to
``{"username", "token_name", "token"}``; it is written atomically (temporary file in the same directory,
fsync, rename) with mode 0600 in a 0700 directory, and never holds a password: only the access token.
``cargohold login`` itself sends Basic credentials once to create that token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

API_PREFIX = "/api/v1"
DEFAULT_SERVER = "http://127.0.0.1:5000"
# A proxy test may wait for an upstream's own connection timeout (up to 600 s) on several steps.
REQUEST_TIMEOUT_S = 900.0
_USER_AGENT = "cargohold-cli"
TOKEN_ENV = "CARGOHOLD_TOKEN"  # noqa: S105 - the name of the variable, not a secret
CREDENTIALS_FILE = "credentials.json"


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


# ------------------------------------------------------------------------------------------------ credentials


@dataclass(frozen=True)
class StoredLogin:
    """What ``cargohold login`` keeps for one server: who, which token (by name, to revoke it), the secret."""

    username: str
    token_name: str
    token: str


def credentials_path() -> Path:
    """``$XDG_CONFIG_HOME/cargohold/credentials.json`` (``~/.config/…`` when the variable is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "cargohold" / CREDENTIALS_FILE


def _read_document(file: Path) -> dict[str, object]:
    try:
        raw = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise CommandError(f"cannot read {file}: {error.strerror or error}") from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise CommandError(f"{file} is not valid JSON: remove it and run cargohold login again") from None
    return document if isinstance(document, dict) else {}


def _read_logins(file: Path) -> dict[str, dict[str, str]]:
    servers = _read_document(file).get("servers")
    if not isinstance(servers, dict):
        return {}
    return {
        url: {k: v for k, v in entry.items() if isinstance(v, str)}
        for url, entry in servers.items()
        if isinstance(url, str) and isinstance(entry, dict)
    }


def current_server() -> str | None:
    """The server of the last ``cargohold login`` that is still logged in, if any."""
    file = credentials_path()
    current = _read_document(file).get("current")
    if isinstance(current, str) and current in _read_logins(file):
        return current
    return None


def _write_logins(file: Path, servers: Mapping[str, Mapping[str, str]], current: str | None) -> None:
    """Replace ``file`` atomically; it is created 0600 (the temporary file is never readable by others)."""
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document: dict[str, object] = {"servers": servers}
    if current is not None:
        document["current"] = current
    data = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(handle, "wb") as out:  # mkstemp creates the file with mode 0600
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def stored_login(server: str) -> StoredLogin | None:
    """The login stored for ``server`` (a URL as ``check_server_url`` returns it), if any."""
    entry = _read_logins(credentials_path()).get(server)
    if not entry or not entry.get("token"):
        return None
    return StoredLogin(entry.get("username", ""), entry.get("token_name", ""), entry["token"])


def store_login(server: str, login: StoredLogin) -> Path:
    """Keep ``login`` for ``server`` (replacing an earlier one); the file it went to."""
    file = credentials_path()
    servers = _read_logins(file)
    servers[server] = {"username": login.username, "token_name": login.token_name, "token": login.token}
    try:
        _write_logins(file, servers, current=server)
    except OSError as error:
        raise CommandError(f"cannot write {file}: {error.strerror or error}") from None
    return file


def forget_login(server: str) -> StoredLogin | None:
    """Remove what is stored for ``server``; what was there (None: nothing)."""
    file = credentials_path()
    servers = _read_logins(file)
    login = stored_login(server)
    if server not in servers:
        return None
    current = current_server()
    del servers[server]
    try:
        _write_logins(file, servers, current=None if current == server else current)
    except OSError as error:
        raise CommandError(f"cannot write {file}: {error.strerror or error}") from None
    return login


def token_for(server: str) -> str | None:
    """The token a call to ``server`` carries: ``$CARGOHOLD_TOKEN``, else the stored login's, else none."""
    return os.environ.get(TOKEN_ENV) or (login.token if (login := stored_login(server)) else None)


# ------------------------------------------------------------------------------------------------ the client


@dataclass(frozen=True)
class ApiClient:
    """Calls ``/api/v1`` on ``server`` (``http(s)://host:port``) with ``basic`` credentials if given, else
    ``token`` as a Bearer token, else the token stored for that server by ``cargohold login`` (``stored``)."""

    server: str
    token: str | None = None
    timeout: float = REQUEST_TIMEOUT_S
    basic: tuple[str, str] | None = None
    stored: bool = True

    def _authorization(self) -> str | None:
        if self.basic is not None:
            pair = f"{self.basic[0]}:{self.basic[1]}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        token = self.token or (token_for(self.server) if self.stored else None)
        return f"Bearer {token}" if token else None

    def get(self, url_path: str) -> Any:
        """GET and return the decoded JSON answer."""
        return self.request("GET", url_path)

    def get_tagged(self, url_path: str) -> tuple[Any, str | None]:
        """GET: the decoded JSON answer and its ``ETag`` (None when it has none)."""
        return self.exchange("GET", url_path)

    def post(
        self, url_path: str, body: Mapping[str, Any] | None = None, *, if_match: str | None = None
    ) -> Any:
        """POST ``body`` as JSON (or nothing) and return the decoded answer."""
        return self.request("POST", url_path, body, if_match=if_match)

    def patch(self, url_path: str, body: Mapping[str, Any], *, if_match: str | None = None) -> Any:
        """PATCH ``body`` as JSON and return the decoded answer."""
        return self.request("PATCH", url_path, body, if_match=if_match)

    def put(self, url_path: str, body: Mapping[str, Any]) -> Any:
        """PUT ``body`` as JSON and return the decoded answer."""
        return self.request("PUT", url_path, body)

    def delete(self, url_path: str, *, if_match: str | None = None) -> Any:
        """DELETE; the API answers 204, so this normally returns None."""
        return self.request("DELETE", url_path, if_match=if_match)

    def request(
        self,
        method: str,
        url_path: str,
        body: Mapping[str, Any] | None = None,
        *,
        if_match: str | None = None,
    ) -> Any:
        """Send one request; the decoded JSON answer (None for an empty body) or ``CommandError``. With
        ``if_match`` (an ETag read before) the server refuses the change when the resource changed since."""
        return self.exchange(method, url_path, body, if_match=if_match)[0]

    def exchange(
        self,
        method: str,
        url_path: str,
        body: Mapping[str, Any] | None = None,
        *,
        if_match: str | None = None,
    ) -> tuple[Any, str | None]:
        """``request``, and the answer's ``ETag`` header."""
        with self._open(method, url_path, body, if_match) as response:
            try:
                raw = response.read()
            except TimeoutError:
                raise CommandError(
                    f"the server at {self.server} did not answer within {self.timeout:g} s"
                ) from None
            except (OSError, HTTPException) as error:
                raise CommandError(self._unreachable(error)) from None
            return _decode(method, url_path, response, raw), response.headers.get("ETag")

    def stream(self, method: str, url_path: str, body: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Send one request whose answer is one JSON value per line (``application/x-ndjson``); yield each
        value as it arrives. ``CommandError`` when the request fails or a line is not JSON."""
        with self._open(method, url_path, body) as response:
            try:
                for line in response:
                    if line.strip():
                        yield json.loads(line)
            except ValueError:
                raise CommandError(f"{method} {url_path}: the server sent a line that is not JSON") from None
            except (OSError, HTTPException) as error:
                raise CommandError(f"{method} {url_path}: the answer broke off ({error})") from None

    @contextlib.contextmanager
    def _open(
        self, method: str, url_path: str, body: Mapping[str, Any] | None, if_match: str | None = None
    ) -> Iterator[HTTPResponse]:
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if if_match is not None:
            headers["If-Match"] = if_match
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        authorization = self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        request = urllib.request.Request(self.server + url_path, data=data, headers=headers, method=method)  # noqa: S310 - scheme checked
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as error:
            with error:
                failure = _api_error(method, url_path, error.code, error.reason, error.read())
            if failure.status == 401 and self.basic is None:
                raise self._not_signed_in(failure) from None
            raise failure from None
        except urllib.error.URLError as error:
            raise CommandError(self._unreachable(error.reason)) from None
        except TimeoutError:
            raise CommandError(
                f"the server at {self.server} did not answer within {self.timeout:g} s"
            ) from None
        except (OSError, HTTPException) as error:
            raise CommandError(self._unreachable(error)) from None
        with response:
            yield response

    def _not_signed_in(self, failure: CommandError) -> CommandError:
        if os.environ.get(TOKEN_ENV):
            hint = f"${TOKEN_ENV} is not a valid token for this server"
        elif self.stored and stored_login(self.server) is not None:
            hint = f"the stored login expired or was revoked: run cargohold login --server {self.server}"
        else:
            hint = f"sign in first: cargohold login --server {self.server}"
        return CommandError(f"{failure} ({hint})", failure.status, failure.code)

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
