"""The glob grammar of per-proxy name rules (``cargohold.registry.name_rules``): ``*`` and ``?`` within a path
component, ``**`` across any number of them, exclude over include; malformed patterns are refused with a
reason; a pattern built to make a backtracking matcher explode is still answered at once."""

from __future__ import annotations

import re

import pytest

from cargohold.registry.name_rules import allowed, check_pattern, matches


@pytest.mark.parametrize(
    ("image", "pattern", "expected"),
    [
        ("company/app", "company/**", True),
        ("company/team/app", "company/**", True),
        ("company", "company/**", True),
        ("companyx/app", "company/**", False),
        ("other/app", "company/**", False),
        ("company/app", "company/*", True),
        ("company/team/app", "company/*", False),
        ("library/alpine", "**/alpine", True),
        ("alpine", "**/alpine", True),
        ("a/b", "a/**/b", True),
        ("a/x/y/b", "a/**/b", True),
        ("a/x/y/c", "a/**/b", False),
        ("tools/old1", "tools/old?", True),
        ("tools/lint", "tools/[!o]*", True),
        ("tools/old", "tools/[!o]*", False),
        ("nginx", "*", True),
        ("library/nginx", "*", False),
    ],
)
def test_globs(image: str, pattern: str, expected: bool) -> None:
    assert matches(image, check_pattern(pattern)) is expected


def test_exclude_wins_and_no_include_means_every_name() -> None:
    assert allowed("anything/at/all", [], [])
    assert allowed("company/app", ["company/**"], ["company/legacy"])
    assert not allowed("company/legacy", ["company/**"], ["company/legacy"])
    assert not allowed("other/app", ["company/**"], [])
    assert not allowed("company/app", [], ["**"])


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("Company/*", "lowercase"),
        ("a//b", "empty path components"),
        ("/a", "empty path components"),
        ("a/", "empty path components"),
        ("a/**b", "** stands alone"),
        ("a b", "lowercase"),
        ("", "1 to 255"),
        ("a" * 256, "1 to 255"),
    ],
)
def test_malformed_patterns_are_refused_with_a_reason(pattern: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_pattern(pattern)


@pytest.mark.timeout(10)
def test_a_pattern_made_to_backtrack_is_answered_at_once() -> None:
    """wcmatch's regex took 18 s for four of these ``**`` against one name; this walk is bounded."""
    pattern = check_pattern("**/a/" * 25 + "b")
    assert not matches("a/" * 126 + "a", pattern)
    assert not matches("a" * 255, check_pattern("*a" * 60 + "b"))
