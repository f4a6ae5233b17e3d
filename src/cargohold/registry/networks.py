"""Where an upstream may be: the network policy of ``upstream.denied_networks`` and
``upstream.private_networks_require_admin`` (docs/security.md, "SSRF").

An address is **denied** when it lies in a denied network (by default link-local, the cloud metadata
addresses, the unspecified and multicast ranges): no proxy ever connects to it, whoever saved it. It is
**private** when it is not globally reachable (loopback, RFC 1918, unique-local, carrier-grade NAT, …): only a
proxy that a global admin approved (or the config file declared) connects to it while
``private_networks_require_admin`` is on. Everything else is **public**.

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
``64:ff9b::a.b.c.d``) are judged by that IPv4 address as well, so ``[::ffff:169.254.169.254]`` is denied like
``169.254.169.254``. Host names and the odd IPv4 spellings (``0x7f000001``, ``2130706433``) are judged by what
they resolve to: ``resolve_classes`` at save time, and ``cargohold.proxy.egress`` on the address of every
connection, so a name that resolves elsewhere later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from cargohold.errors import ValidationFailedError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DENIED_NETWORKS: Final = (
    "0.0.0.0/8",  # "this network": connecting to 0.0.0.0 reaches the local host
    "169.254.0.0/16",  # link-local, with the metadata service of AWS, GCP, Azure, OCI (169.254.169.254)
    "100.100.100.200/32",  # Alibaba Cloud's metadata service
    "224.0.0.0/4",  # multicast
    "255.255.255.255/32",  # broadcast
    "::/128",  # unspecified
    "fe80::/10",  # link-local
    "fd00:ec2::254/128",  # AWS's metadata service over IPv6
    "ff00::/8",  # multicast
)

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")

DENIED_REASON: Final = "its address is in a denied network (upstream.denied_networks)"
PRIVATE_REASON: Final = (
    "its address is loopback or private, and only a global admin may point a proxy there "
    "(upstream.private_networks_require_admin)"
)


class AddressClass(StrEnum):
    DENIED = "denied"
    PRIVATE = "private"
    PUBLIC = "public"


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Networks in CIDR form (a bare address is a /32 or /128); ValueError naming a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{str(value)[:60]!r} is not a network in CIDR form (e.g. 169.254.0.0/16)"
            ) from None
    return tuple(networks)


def _forms(address: IpAddress) -> tuple[IpAddress, ...]:
    """The address, and the IPv4 address an IPv6 form of it carries (mapped, compatible, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    embedded: IpAddress | None = address.ipv4_mapped
    value = int(address)
    if embedded is None and 1 < value < 2**32:  # IPv4-compatible ::a.b.c.d (not :: nor ::1)
        embedded = ipaddress.IPv4Address(value)
    if embedded is None and address in _NAT64:
        embedded = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return (address,) if embedded is None else (address, embedded)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """The rules for the addresses upstream connections go to."""

    denied: tuple[IpNetwork, ...] = parse_networks(DEFAULT_DENIED_NETWORKS)
    private_require_admin: bool = True

    def classify(self, address: str | IpAddress) -> AddressClass:
        """DENIED, PRIVATE or PUBLIC for an IP address (text may carry an IPv6 zone: ``fe80::1%eth0``)."""
        parsed = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
        forms = _forms(parsed)
        if any(
            form in network for form in forms for network in self.denied if form.version == network.version
        ):
            return AddressClass.DENIED
        if not forms[-1].is_global:  # the embedded IPv4 address decides, when there is one
            return AddressClass.PRIVATE
        return AddressClass.PUBLIC

    def refusal(self, address: str | IpAddress, *, approved: bool) -> str | None:
        """Why a connection to ``address`` is refused, or None when it may go ahead. ``approved``: a global
        admin (or the config file) chose this proxy's URL, so it may reach private addresses."""
        found = self.classify(address)
        if found is AddressClass.DENIED:
            return DENIED_REASON
        if found is AddressClass.PRIVATE and self.private_require_admin and not approved:
            return PRIVATE_REASON
        return None


async def resolve_classes(policy: NetworkPolicy, host: str, seconds: float) -> set[AddressClass]:
    """The classes of every address ``host`` resolves to (a literal resolves to itself, the odd IPv4
    spellings included); empty when it does not resolve within ``seconds`` (the connection-time
    check still applies)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), seconds)
    except (OSError, TimeoutError, UnicodeError):
        return set()
    return {policy.classify(str(info[4][0])) for info in infos}


async def check_proxy_url(policy: NetworkPolicy, url: str, *, approved: bool, seconds: float = 5.0) -> None:
    """Refuse to save (or test) a proxy URL whose host resolves to a denied address, or to a private one
    when the caller is not a global admin: ``ValidationFailedError('url', …)``. The message names no
    address (a host name's resolution inside the network is nobody else's business)."""
    host = urlsplit(url).hostname
    if not host:
        return
    classes = await resolve_classes(policy, host, seconds)
    if AddressClass.DENIED in classes:
        raise ValidationFailedError("url", f"not allowed: {DENIED_REASON}")
    if AddressClass.PRIVATE in classes and policy.private_require_admin and not approved:
        raise ValidationFailedError("url", f"not allowed: {PRIVATE_REASON}")
