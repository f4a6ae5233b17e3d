"""The throughput floor of upstream blob bodies: a body that arrives slower than the floor, averaged over a
window, is cut off; one that keeps up (even with pauses shorter than the window) is not."""

from __future__ import annotations

from cargohold.proxy.blobs import ThroughputFloor


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_trickle_is_cut_off_once_a_window_is_over() -> None:
    clock = Clock()
    floor = ThroughputFloor(16 * 1024, 30, clock)
    for _ in range(29):
        clock.now += 1
        assert floor.received(1) is None, "no verdict before the window is over"
    clock.now += 1
    shortfall = floor.received(1)
    assert shortfall is not None
    assert "30 bytes in 30.0 s" in shortfall


def test_a_body_that_keeps_up_on_average_passes_window_after_window() -> None:
    clock = Clock()
    floor = ThroughputFloor(1000, 10, clock)
    for _ in range(5):
        clock.now += 9  # a long pause ...
        assert floor.received(100) is None
        clock.now += 1  # ... then a burst that makes up for it
        assert floor.received(9900) is None


def test_each_window_is_judged_on_its_own() -> None:
    clock = Clock()
    floor = ThroughputFloor(1000, 10, clock)
    clock.now += 10
    assert floor.received(1_000_000) is None  # a fast start does not pay for a slow end
    clock.now += 10
    assert floor.received(10) is not None


def test_a_floor_of_zero_never_cuts_off() -> None:
    clock = Clock()
    floor = ThroughputFloor(0, 10, clock)
    clock.now += 1000
    assert floor.received(1) is None
