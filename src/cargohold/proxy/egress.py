"""The network policy (``cargohold.registry.networks``) applied at every upstream connection.

aiohttp resolves a host name and then hands each address to ``socket_factory`` before it connects; the
factory here refuses an address the policy forbids for the proxy, so the check sees the address actually
connected to, for IP literals and resolved names alike, on every new connection (including token realms and
redirect targets, which go through the same session). A refusal is an ``OSError`` with ``errno.EACCES`` and
the policy's reason; ``cargohold.proxy.failures`` reports it as a refused connection.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import aiohttp
from aiohappyeyeballs import AddrInfoType

from cargohold.models import Proxy
from cargohold.registry.networks import NetworkPolicy

__all__ = ["AddressRefusedError", "connector", "refusal", "socket_factory"]


class AddressRefusedError(OSError):
    """The network policy forbids connecting to this address."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)


def refusal(policy: NetworkPolicy | None, proxy: Proxy, address: str) -> str | None:
    """Why ``proxy`` may not connect to ``address`` (None: it may; no policy: anything goes)."""
    if policy is None:
        return None
    return policy.refusal(address, approved=proxy.private_networks_approved)


def socket_factory(policy: NetworkPolicy, proxy: Proxy) -> Callable[[AddrInfoType], socket.socket]:
    """A socket factory for aiohttp that refuses the addresses ``policy`` forbids for ``proxy``."""

    def make(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, address = addr_info
        reason = policy.refusal(str(address[0]), approved=proxy.private_networks_approved)
        if reason is not None:
            raise AddressRefusedError(reason)
        return socket.socket(family=family, type=type_, proto=proto)

    return make


def connector(policy: NetworkPolicy | None, proxy: Proxy, *, limit: int = 100) -> aiohttp.TCPConnector:
    """A connector for ``proxy``'s session: its TLS setting, and the policy on every connection."""
    # ssl=False turns certificate checks off for this proxy alone; True is default verification.
    factory = None if policy is None else socket_factory(policy, proxy)
    return aiohttp.TCPConnector(ssl=bool(proxy.ssl_validation), limit=limit, socket_factory=factory)
