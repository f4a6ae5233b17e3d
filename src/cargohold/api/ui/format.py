"""Jinja filters of the web UI: sizes, durations, times and digests as people read them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def filesize(value: int | float | None) -> str:
    """``1536`` → ``1.5 KiB``; ``None`` → an em dash."""
    if value is None:
        return "—"
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def milliseconds(value: float | None) -> str:
    """``12.34`` → ``12 ms``; ``1234.5`` → ``1.23 s``."""
    if value is None:
        return "—"
    if value >= 1000:
        seconds = f"{value / 1000:.2f}".rstrip("0").rstrip(".")
        return f"{seconds} s"
    return f"{value:.0f} ms" if value >= 1 else f"{value:.1f} ms"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def timestamp(value: datetime | None) -> str:
    """An absolute time in UTC, to the minute."""
    if value is None:
        return "—"
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    """The machine form for ``<time datetime=…>``."""
    return "" if value is None else _aware(value).isoformat()


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``2 h ago``, ``5 d ago``; ``never`` for None."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - _aware(value)).total_seconds()
    if seconds < 60:
        return "just now"
    for limit, unit in ((3600, 60), (86400, 3600), (86400 * 60, 86400)):
        if seconds < limit:
            label = {60: "min", 3600: "h", 86400: "d"}[unit]
            return f"{int(seconds // unit)} {label} ago"
    return timestamp(value)


def duration(seconds: int | float) -> str:
    """``300`` → ``5 min``; ``0`` → ``always revalidate``."""
    value = int(seconds)
    if value == 0:
        return "0 s (always revalidate)"
    for unit, label in ((86400, "d"), (3600, "h"), (60, "min")):
        if value % unit == 0:
            return f"{value // unit} {label}"
    return f"{value} s"


def short_digest(value: str) -> str:
    """``sha256:abcdef0123456789…`` → ``sha256:abcdef012345``."""
    algorithm, _, encoded = value.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else value


def number(value: int | float) -> str:
    """``4821`` → ``4,821``."""
    return f"{value:,}"


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as ``87 %``; an em dash when ``whole`` is 0."""
    return "—" if whole <= 0 else f"{100 * part / whole:.0f} %"


FILTERS: Final[dict[str, Callable[..., Any]]] = {
    "filesize": filesize,
    "milliseconds": milliseconds,
    "timestamp": timestamp,
    "iso": iso,
    "ago": ago,
    "duration": duration,
    "short_digest": short_digest,
    "number": number,
}
GLOBALS: Final[dict[str, Callable[..., Any]]] = {"percent": percent}
