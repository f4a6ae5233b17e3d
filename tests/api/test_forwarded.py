"""Which client, scheme and host the forwarded headers name (``cargohold.api.forwarded.resolve_origin``):
only a trusted peer is believed, the client is the rightmost address that is not itself a trusted proxy,
and values that are not addresses, schemes or hosts are not taken."""

from __future__ import annotations

import ipaddress

from cargohold.api.forwarded import Origin, resolve_origin

TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def resolve(
    peer: str, headers: dict[str, str], forwarded: list[dict[str, str]] | None = None
) -> Origin | None:
    return resolve_origin(peer, headers, forwarded or [], TRUSTED)


def test_an_untrusted_peer_is_never_believed() -> None:
    assert resolve("192.0.2.1", {"X-Forwarded-For": "203.0.113.7"}) is None
    assert resolve("192.0.2.1", {}, [{"for": "203.0.113.7"}]) is None
    assert resolve_origin("10.0.0.1", {"X-Forwarded-For": "203.0.113.7"}, [], []) is None


def test_the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() -> None:
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.1.1"}  # a spoofed entry, the client, a proxy
    assert resolve("10.0.0.1", chain) == Origin("203.0.113.7")
    assert resolve("10.0.0.1", {"X-Forwarded-For": "10.2.2.2, 10.1.1.1"}) == Origin("10.2.2.2")
    assert resolve("::ffff:10.0.0.1", {"X-Forwarded-For": "2001:db8::5"}) == Origin("2001:db8::5")


def test_a_value_that_is_not_an_address_ends_the_walk() -> None:
    assert resolve("10.0.0.1", {"X-Forwarded-For": "unknown, 203.0.113.7"}) == Origin("203.0.113.7")
    assert resolve("10.0.0.1", {"X-Forwarded-For": "203.0.113.7, garbage"}) is None


def test_scheme_and_host_come_from_the_hop_that_named_the_client() -> None:
    headers = {
        "X-Forwarded-For": "203.0.113.7, 10.1.1.1",
        "X-Forwarded-Proto": "https, http",
        "X-Forwarded-Host": "registry.example.com, internal:5000",
    }
    assert resolve("10.0.0.1", headers) == Origin("203.0.113.7", "https", "registry.example.com")
    single = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "r.example"}
    assert resolve("10.0.0.1", single) == Origin("203.0.113.7", "https", "r.example")


def test_rfc_7239_elements_with_ports_and_ipv6() -> None:
    forwarded = [
        {"for": "[2001:db8::5]:4711", "proto": "https", "host": "r.example:8443"},
        {"for": "10.1.1.1"},
    ]
    assert resolve("fd00::1", {}, forwarded) == Origin("2001:db8::5", "https", "r.example:8443")
    assert resolve("10.0.0.1", {}, [{"for": "203.0.113.7:80"}]) == Origin("203.0.113.7")


def test_scheme_and_host_alone_keep_the_peer_as_the_client() -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "r.example"}
    assert resolve("10.0.0.1", headers) == Origin("10.0.0.1", "https", "r.example")
    assert resolve("10.0.0.1", {}) is None


def test_bad_schemes_and_hosts_are_not_taken() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a b/c"}
    assert resolve("10.0.0.1", headers) == Origin("203.0.113.7")
