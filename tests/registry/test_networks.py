"""The network policy: every spelling of an internal address is judged by the address it stands for."""

from __future__ import annotations

import pytest

from cargohold.errors import ValidationFailedError
from cargohold.registry.networks import AddressClass, NetworkPolicy, check_proxy_url, parse_networks

POLICY = NetworkPolicy()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("169.254.169.254", AddressClass.DENIED),
        ("::ffff:169.254.169.254", AddressClass.DENIED),  # IPv4-mapped
        ("::a9fe:a9fe", AddressClass.DENIED),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", AddressClass.DENIED),  # NAT64
        ("fd00:ec2::254", AddressClass.DENIED),
        ("100.100.100.200", AddressClass.DENIED),
        ("fe80::1%eth0", AddressClass.DENIED),
        ("0.0.0.0", AddressClass.DENIED),  # noqa: S104 (an address judged, nothing bound)
        ("::", AddressClass.DENIED),
        ("224.0.0.251", AddressClass.DENIED),
        ("ff02::1", AddressClass.DENIED),
        ("127.0.0.1", AddressClass.PRIVATE),
        ("::1", AddressClass.PRIVATE),
        ("::ffff:127.0.0.1", AddressClass.PRIVATE),
        ("10.0.0.1", AddressClass.PRIVATE),
        ("172.16.5.4", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("100.64.0.1", AddressClass.PRIVATE),
        ("fc00::1", AddressClass.PRIVATE),
        ("8.8.8.8", AddressClass.PUBLIC),
        ("::ffff:8.8.8.8", AddressClass.PUBLIC),
        ("2606:4700:4700::1111", AddressClass.PUBLIC),
    ],
)
def test_classify(address: str, expected: AddressClass) -> None:
    assert POLICY.classify(address) is expected


def test_private_addresses_need_approval_only_while_the_rule_is_on() -> None:
    assert POLICY.refusal("127.0.0.1", approved=False) is not None
    assert POLICY.refusal("127.0.0.1", approved=True) is None
    assert POLICY.refusal("169.254.169.254", approved=True) is not None
    relaxed = NetworkPolicy(private_require_admin=False)
    assert relaxed.refusal("127.0.0.1", approved=False) is None
    assert relaxed.refusal("169.254.169.254", approved=False) is not None


def test_parse_networks_names_a_bad_entry() -> None:
    assert [str(n) for n in parse_networks(["10.0.0.0/8", "::1"])] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="not-a-net"):
        parse_networks(["not-a-net"])


@pytest.mark.parametrize(
    "url", ["http://0x7f000001:5000", "http://2130706433", "http://017700000001", "http://localhost:5000"]
)
async def test_odd_spellings_of_loopback_are_resolved_before_they_are_judged(url: str) -> None:
    with pytest.raises(ValidationFailedError, match="only a global admin"):
        await check_proxy_url(POLICY, url, approved=False)
    await check_proxy_url(POLICY, url, approved=True)


async def test_a_name_that_does_not_resolve_is_left_to_the_connection_time_check() -> None:
    await check_proxy_url(POLICY, "http://no-such-host.invalid", approved=False)
