"""How the web UI writes sizes, durations and times, and how it reads its forms (no browser needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from multidict import MultiDict

from cargohold.api.ui import forms
from cargohold.api.ui.format import ago, duration, filesize, milliseconds, percent, short_digest
from cargohold.registry.repositories import ProxyView


def test_sizes_durations_and_times_read_like_a_person_would_write_them() -> None:
    assert [filesize(v) for v in (None, 0, 1023, 1536, 71_000_000)] == [
        "—",
        "0 B",
        "1023 B",
        "1.5 KiB",
        "67.7 MiB",
    ]
    assert [milliseconds(v) for v in (0.25, 12.4, 5000, 1234.5)] == ["0.2 ms", "12 ms", "5 s", "1.23 s"]
    assert [duration(v) for v in (0, 45, 300, 7200, 86400)] == [
        "0 s (always revalidate)",
        "45 s",
        "5 min",
        "2 h",
        "1 d",
    ]
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert ago(None) == "never"
    assert ago(now - timedelta(minutes=4), now) == "4 min ago"
    assert ago(now - timedelta(days=3), now) == "3 d ago"
    assert short_digest("sha256:" + "ab" * 32) == "sha256:abababababab"
    assert (percent(1, 4), percent(0, 0)) == ("25 %", "—")


def test_an_edit_without_a_password_keeps_the_stored_one_and_clearing_is_explicit() -> None:
    stored = ProxyView("company", "https://r.example.com", "bot", True, True, 5000, True, 1)
    keep, errors = forms.proxy_changes(
        MultiDict(name="company", url="https://r.example.com", username="bot", connection_timeout_ms="5000"),
        stored,
    )
    assert not errors
    assert keep is not None
    assert (keep.password, keep.clear_password, keep.ssl_validation, keep.active) == (
        None,
        False,
        False,
        False,
    )
    form = MultiDict(name="company", url="https://r.example.com", connection_timeout_ms="5000", username="")
    form.update(clear_password="on", password="ignored-when-clearing")
    cleared, _ = forms.proxy_changes(form, stored)
    assert cleared is not None
    assert (cleared.password, cleared.clear_password, cleared.username) == (None, True, "")


def test_numbers_that_are_not_numbers_are_reported_on_their_field() -> None:
    settings, errors = forms.proxy_settings(
        MultiDict(name="", url="https://r.example.com", connection_timeout_ms="5s")
    )
    assert settings is None
    assert set(errors.messages) == {"name", "connection_timeout_ms"}
    assert forms.hosts(MultiDict(hosts="docker.io, GHCR.io\nquay.io")) == ("docker.io", "ghcr.io", "quay.io")
