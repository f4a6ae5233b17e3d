"""The web UI's session cookie and sign-in redirect target, as an attacker would probe them: a forged,
tampered, truncated or expired cookie names nobody, one server's cookie is worthless to another, and
``next`` only ever leads to a page of the UI."""

from __future__ import annotations

import pytest

from cargohold.api.ui.access import SessionConfig, read_session, safe_next, session_is_current, sign_session

KEY = SessionConfig(b"k" * 32, lifetime_seconds=3600)


def test_a_signed_session_names_its_user_until_it_expires() -> None:
    value = sign_session(KEY, "alice", now=1_000_000)
    assert read_session(KEY, value, now=1_000_000) == "alice"
    assert read_session(KEY, value, now=1_000_000 + 3599) == "alice"
    assert read_session(KEY, value, now=1_000_000 + 3600) is None
    assert "alice" not in value.split(".")[1]  # the signature part says nothing readable
    assert sign_session(KEY, "alice", now=1_000_000) != value  # each sign-in gets its own cookie


def test_a_session_is_current_only_for_the_stamp_it_was_signed_with() -> None:
    value = sign_session(KEY, "alice", now=1_000_000, stamp="hash-of-the-old-password")
    assert session_is_current(KEY, value, "hash-of-the-old-password")
    assert not session_is_current(KEY, value, "hash-of-the-new-password")  # the password changed
    assert "hash-of-the-old-password" not in value  # the cookie carries only a keyed digest of it
    other = SessionConfig(b"o" * 32)
    assert not session_is_current(other, sign_session(other, "alice", stamp="x"), "y")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # signature changed
        lambda v: v.split(".")[0],  # signature dropped
        lambda v: v.split(".")[0] + ".",  # empty signature
        lambda v: "eyJ1IjoiYWRtaW4iLCJleHAiOjk5OTk5OTk5OTl9." + v.split(".")[1],  # another payload
        lambda v: "",
        lambda v: "." * 3,
        lambda v: v + "x" * 2000,
    ],
)
def test_a_tampered_session_names_nobody(tamper: object) -> None:
    value = sign_session(KEY, "alice", now=1_000_000)
    assert callable(tamper)
    assert read_session(KEY, tamper(value), now=1_000_000) is None


def test_a_session_of_another_key_names_nobody() -> None:
    other = SessionConfig(b"o" * 32)
    assert read_session(KEY, sign_session(other, "alice", now=1_000_000), now=1_000_000) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/repositories/hub?tab=images", "/ui/repositories/hub?tab=images"),
        ("/ui", "/ui"),
        ("/ui/tokens", "/ui/tokens"),
        (None, "/ui/"),
        ("", "/ui/"),
        ("https://evil.example/ui/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/\\evil.example", "/ui/"),
        ("///evil.example", "/ui/"),
        ("javascript:alert(1)", "/ui/"),
        ("/api/v1/users", "/ui/"),
        ("/uix", "/ui/"),
        ("/ui/signin?next=https://evil.example", "/ui/"),
        ("/ui/\r\nSet-Cookie: x=1", "/ui/"),
        ("ui/tokens", "/ui/"),
    ],
)
def test_next_only_leads_to_a_page_of_the_ui(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
