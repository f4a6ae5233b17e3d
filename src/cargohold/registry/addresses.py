"""The address grammars a repository and its proxies are held to: host names, ``HOST:PORT`` and
``host[:port]`` parsing, and ``http(s)://`` URL validation. ``RepositoryAdmin`` checks what the API and the UI
send with them, and ``cargohold.config`` checks the config file's values (and ``listen``) with the same
functions, so both refuse the same things. Each check raises ValueError with a message fit for a user
(pydantic turns it into a validation error at the right dotted path) and never echoes userinfo.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

_HOSTNAME_RE: Final = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_HOST_PORT_RE: Final = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]{1,5}))?$")


def check_host(host: str, *, bracketed: bool) -> str:
    """Return ``host`` lowercased if it is a DNS name, an IPv4 address or (bracketed) an IPv6 address."""
    host = host.lower()
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"[{host}] is not an IPv6 address") from None
        return host
    if not _HOSTNAME_RE.match(host):
        raise ValueError(f"{host!r} is not a host name or IPv4 address")
    return host


def split_host_port(
    text: str, *, require_port: bool, allow_port_zero: bool = False
) -> tuple[str, int | None]:
    """Split ``host[:port]`` / ``[v6][:port]`` into a lowercase host (no brackets) and a port."""
    match = _HOST_PORT_RE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not of the form HOST:PORT (an IPv6 host goes in brackets: [::1]:PORT)")
    bracketed = match["v6"] is not None
    host = check_host(match["v6"] if bracketed else match["host"], bracketed=bracketed)
    if match["port"] is None:
        if require_port:
            raise ValueError(f"{text!r} has no port; expected HOST:PORT")
        return host, None
    port = int(match["port"])
    if port > 65535 or (port == 0 and not allow_port_zero):
        raise ValueError(f"port {port} is out of range")
    return host, port


def join_host_port(host: str, port: int | None) -> str:
    """The inverse of ``split_host_port``: brackets around an IPv6 host, ``:port`` when given."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def normalise_host(text: str) -> str:
    """A ``hosts`` entry: ``host[:port]`` lowercased, nothing else."""
    return join_host_port(*split_host_port(text, require_port=False))


_PATH_SEGMENT: Final = re.compile(r"(?!\.\.?$)[A-Za-z0-9._~-]{1,255}")


def check_http_url(text: str, *, allow_path: bool) -> str:
    """Validate an ``http(s)://host[:port]`` URL (with a path only if ``allow_path``); strip a final slash."""
    parts = urlsplit(text.strip())
    if "@" in parts.netloc:
        raise ValueError("credentials do not belong in the URL; use username and password")
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"{text!r} must not have a query or fragment")
    path = parts.path.rstrip("/")
    if path and not allow_path:
        raise ValueError(f"{text!r} must be scheme://host[:port] without a path")
    try:
        host, port = split_host_port(parts.netloc, require_port=False)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return f"{parts.scheme.lower()}://{join_host_port(host, port)}{path}"


def check_proxy_url(text: str) -> str:
    """A proxy's URL: ``http(s)://host[:port]``, optionally with the path its registry API lives under
    (Artifactory's ``/artifactory/api/docker/REPO``, a registry behind a reverse proxy at ``/registry``)."""
    url = check_http_url(text, allow_path=True)
    path = urlsplit(url).path
    if any(not _PATH_SEGMENT.fullmatch(segment) for segment in path.split("/")[1:]):
        raise ValueError(f"{text!r}: a path is /-separated names of letters, digits and . _ ~ - (no . or ..)")
    return url
