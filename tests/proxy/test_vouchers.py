"""The memory of which proxy's manifest named a blob in an image."""

from __future__ import annotations

from cargohold.models import Digest
from cargohold.proxy.vouchers import Vouchers

A, B, C = (Digest.of(x) for x in (b"a", b"b", b"c"))


def test_a_voucher_is_per_repository_image_and_blob() -> None:
    vouchers = Vouchers()
    vouchers.record(1, "library/alpine", [A, B], "hub")
    assert vouchers.proxy_for(1, "library/alpine", A) == "hub"
    assert vouchers.proxy_for(1, "library/alpine", C) is None
    assert vouchers.proxy_for(2, "library/alpine", A) is None  # another repository
    assert vouchers.proxy_for(1, "library/busybox", A) is None  # another image


def test_the_latest_manifest_decides_and_the_oldest_vouchers_go_first() -> None:
    vouchers = Vouchers(capacity=2)
    vouchers.record(1, "img", [A], "first")
    vouchers.record(1, "img", [B], "first")
    vouchers.record(1, "img", [A], "second")  # A vouched again: now the newest
    vouchers.record(1, "img", [C], "second")  # over capacity: B, the oldest, goes
    assert vouchers.proxy_for(1, "img", A) == "second"
    assert vouchers.proxy_for(1, "img", B) is None
    assert vouchers.proxy_for(1, "img", C) == "second"
