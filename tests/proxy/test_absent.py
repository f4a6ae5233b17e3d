"""Negative caching of manifests: remembered as absent for the TTL, per repository, image and reference;
forgotten when the repository changes; off with a TTL of 0."""

from __future__ import annotations

from cargohold.proxy.absent import AbsentManifests


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_a_missing_manifest_is_remembered_for_the_ttl_only() -> None:
    clock = Clock()
    absent = AbsentManifests(30, clock)
    absent.remember((1, "team/app", "missing"))
    assert absent.absent((1, "team/app", "missing"))
    assert not absent.absent((1, "team/app", "other"))
    assert not absent.absent((2, "team/app", "missing"))
    clock.now += 29.9
    assert absent.absent((1, "team/app", "missing"))
    clock.now += 0.1
    assert not absent.absent((1, "team/app", "missing"))


def test_a_change_of_the_repository_forgets_its_entries_only() -> None:
    absent = AbsentManifests(30, Clock())
    absent.remember((1, "team/app", "missing"))
    absent.remember((2, "team/app", "missing"))
    absent.forget(1)
    assert not absent.absent((1, "team/app", "missing"))
    assert absent.absent((2, "team/app", "missing"))


def test_a_ttl_of_zero_remembers_nothing() -> None:
    absent = AbsentManifests(0, Clock())
    absent.remember((1, "team/app", "missing"))
    assert not absent.absent((1, "team/app", "missing"))
