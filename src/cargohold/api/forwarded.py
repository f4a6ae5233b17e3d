"""Believing a reverse proxy, and only a trusted one: who the client is, and which scheme and host it came to.

When the TCP peer is in ``trusted_proxies``, ``trust_forwarded_headers`` hands the handlers a request whose
``remote``, ``scheme`` and ``host`` come from ``Forwarded`` (RFC 7239), or else from ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host``; from any other peer those headers are ignored. Everything that
reads the request then follows: the sign-in limits (keyed by ``request.remote``), the token realm in
``WWW-Authenticate`` (built from the request's origin unless ``public_url`` is configured) and the UI's
registry host. ``ForwardedAccessLogger`` logs the same client address.

The client is found from the right of the address list: entries that are themselves trusted proxies are
skipped, the first one that is not is the client (if every entry is trusted, the leftmost). A value that is
not an address (``unknown``, an obfuscated name, garbage) ends the walk at the last address believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_log import AccessLogger

from cargohold.registry.addresses import split_host_port

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_CLIENT_KEY: Final = "cargohold.forwarded_client"
"""Set on the request aiohttp made (the one the access log sees) to the client the headers named."""


@dataclass(frozen=True)
class Origin:
    """What a trusted proxy said about the client's side of the connection (None: not said)."""

    remote: str
    scheme: str | None = None
    host: str | None = None


def _address(text: str) -> Address | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:5``, ``[::1]`` or ``[::1]:5``; None when it is not one."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, trusted: Sequence[Network]
) -> bool:
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


def _client_index(hops: Sequence[str], trusted: Sequence[Network]) -> int | None:
    """The index in ``hops`` (left = first client) of the client, walking from the right."""
    chosen: int | None = None
    for index in range(len(hops) - 1, -1, -1):
        address = _address(hops[index])
        if address is None:
            break
        chosen = index
        if not _trusted(address, trusted):
            break
    return chosen


def _scheme(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value if value in ("http", "https") else None


def _host(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        split_host_port(value, require_port=False)
    except ValueError:
        return None
    return value


def _pick(values: str | None, index: int, count: int) -> str | None:
    """The entry of a comma list written by the same hop as address ``index`` of ``count``, else the last."""
    if values is None:
        return None
    parts = [part.strip() for part in values.split(",")]
    return parts[index] if len(parts) == count else parts[-1]


def resolve_origin(
    peer: str | None,
    headers: Mapping[str, str],
    forwarded: Sequence[Mapping[str, str]],
    trusted: Sequence[Network],
) -> Origin | None:
    """What the headers say, when ``peer`` is a trusted proxy and they say anything; else None."""
    if not trusted or not _trusted(_address(peer or ""), trusted):
        return None
    if forwarded:
        hops = [element.get("for", "") for element in forwarded]
        index = _client_index(hops, trusted)
        if index is None:
            return None
        element = forwarded[index]
        address = _address(hops[index])
        assert address is not None
        return Origin(str(address), _scheme(element.get("proto")), _host(element.get("host")))
    proto, host = headers.get(hdrs.X_FORWARDED_PROTO), headers.get(hdrs.X_FORWARDED_HOST)
    forwarded_for = headers.get(hdrs.X_FORWARDED_FOR)
    if not forwarded_for:  # a proxy that names only the scheme and host it was reached by
        if proto is None and host is None:
            return None
        return Origin(str(peer), _scheme(_pick(proto, 0, 0)), _host(_pick(host, 0, 0)))
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    index = _client_index(hops, trusted)
    if index is None:
        return None
    address = _address(hops[index])
    assert address is not None
    return Origin(str(address), _scheme(_pick(proto, index, len(hops))), _host(_pick(host, index, len(hops))))


def trust_forwarded_headers(trusted: Sequence[Network]) -> Middleware:
    """The middleware (first in the chain) that applies ``resolve_origin`` to every request."""
    networks = tuple(trusted)

    @web.middleware
    async def believe_trusted_proxies(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks:
            return await handler(request)
        origin = resolve_origin(request.remote, request.headers, request.forwarded, networks)
        if origin is None:
            return await handler(request)
        request[_CLIENT_KEY] = origin.remote
        changes: dict[str, str] = {"remote": origin.remote}
        if origin.scheme is not None:
            changes["scheme"] = origin.scheme
        if origin.host is not None:
            changes["host"] = origin.host
        return await handler(request.clone(**changes))  # type: ignore[arg-type]

    return believe_trusted_proxies


def forwarded_client(request: web.BaseRequest) -> str | None:
    """The client address a trusted proxy named for ``request`` (None: believe the TCP peer)."""
    client = request.get(_CLIENT_KEY)
    return client if isinstance(client, str) else None


class _ClientView:
    """A request as the access log reads it, with ``remote`` the client a trusted proxy named."""

    def __init__(self, request: web.BaseRequest, remote: str) -> None:
        self._request = request
        self.remote = remote

    def __getattr__(self, name: str) -> object:
        return getattr(self._request, name)


class ForwardedAccessLogger(AbstractAccessLogger):
    """aiohttp's access log, with ``%a`` the client a trusted proxy named (the TCP peer otherwise)."""

    def __init__(self, logger: object, log_format: str) -> None:
        super().__init__(logger, log_format)  # type: ignore[arg-type]
        self._inner = AccessLogger(logger, log_format)  # type: ignore[arg-type]

    @property
    def enabled(self) -> bool:
        return self._inner.enabled

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        client = request.get(_CLIENT_KEY) if request is not None else None
        view = request if not isinstance(client, str) else _ClientView(request, client)
        self._inner.log(view, response, time)  # type: ignore[arg-type]
