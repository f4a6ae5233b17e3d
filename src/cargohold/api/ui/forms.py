"""Reading the web UI's HTML forms into the management service's settings and changes.

Only the shape is checked here (numbers are numbers, required fields are present); every rule about the
values (URL schemes, name grammar, ranges) belongs to ``RepositoryAdmin``, whose ``ValidationFailedError``
the handlers show next to the field it names. Checkboxes arrive only when ticked. Passwords are write-only:
an empty password field on an edit means "keep the stored one", and only "clear password" removes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cargohold.errors import ValidationFailedError
from cargohold.models import Visibility
from cargohold.registry.repositories import (
    ProxyChanges,
    ProxySettings,
    ProxyView,
    RepositoryChanges,
    RepositorySettings,
)

FormData = Mapping[str, Any]
_HOST_SPLIT = re.compile(r"[\s,]+")


@dataclass
class FieldErrors:
    """Messages by form field; shown next to the field, and summarised at the top of the form."""

    messages: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.messages.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.messages)


def text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def ticked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def _integer(form: FormData, name: str, errors: FieldErrors, label: str) -> int | None:
    raw = text(form, name)
    if not raw:
        errors.add(name, f"Enter {label}.")
        return None
    try:
        return int(raw)
    except ValueError:
        errors.add(name, f"Enter {label} as a whole number.")
        return None


def _visibility(form: FormData, errors: FieldErrors) -> Visibility:
    try:
        return Visibility(text(form, "visibility") or "public")
    except ValueError:
        errors.add("visibility", "Choose public or private.")
        return Visibility.PUBLIC


def hosts(form: FormData) -> tuple[str, ...]:
    """The hosts field: names separated by commas, spaces or new lines."""
    return tuple(part for part in _HOST_SPLIT.split(text(form, "hosts").lower()) if part)


def name_patterns(form: FormData, name: str) -> list[str]:
    """A name-rules field (``include`` or ``exclude``): patterns separated by commas, spaces or new lines."""
    return [part for part in _HOST_SPLIT.split(text(form, name)) if part]


def repository_settings(form: FormData) -> tuple[RepositorySettings | None, FieldErrors]:
    errors = FieldErrors()
    name = text(form, "name")
    if not name:
        errors.add("name", "Enter a name.")
    visibility = _visibility(form, errors)
    ttl = _integer(form, "tag_ttl_seconds", errors, "a tag TTL in seconds")
    days = _optional_integer(form, "evict_unused_after_days", errors, "a number of days")
    if errors or ttl is None:
        return None, errors
    try:
        settings = RepositorySettings(
            name=name,
            visibility=visibility,
            default=ticked(form, "default"),
            hosts=hosts(form),
            tag_ttl_seconds=ttl,
            max_cached_bytes=text(form, "max_cached_bytes") or 0,
            evict_unused_after_days=days or 0,
            pins=list(pins(form)),
        )
    except ValidationFailedError as error:
        errors.add(error.field or "name", error.message)
        return None, errors
    return settings, errors


def repository_changes(form: FormData) -> tuple[RepositoryChanges | None, FieldErrors]:
    errors = FieldErrors()
    visibility = _visibility(form, errors)
    ttl = _integer(form, "tag_ttl_seconds", errors, "a tag TTL in seconds")
    days = _optional_integer(form, "evict_unused_after_days", errors, "a number of days")
    if errors or ttl is None:
        return None, errors
    raw_quota = text(form, "max_cached_bytes")
    quota: int | str = int(raw_quota) if raw_quota.isdigit() else (raw_quota or 0)
    changes = RepositoryChanges(
        visibility=visibility,
        default=ticked(form, "default"),
        hosts=hosts(form),
        tag_ttl_seconds=ttl,
        max_cached_bytes=quota,  # type: ignore[arg-type]  # "100MiB": check_changes makes it bytes
        evict_unused_after_days=days or 0,
        pins=pins(form),
    )
    return changes, errors


def pins(form: FormData) -> tuple[str, ...]:
    """The pins field: patterns separated by commas, spaces or new lines."""
    return tuple(part for part in _HOST_SPLIT.split(text(form, "pins")) if part)


def _optional_integer(form: FormData, name: str, errors: FieldErrors, label: str) -> int | None:
    """A whole number, or None when the field is empty."""
    return _integer(form, name, errors, label) if text(form, name) else None


def _answer_timeout(form: FormData, errors: FieldErrors) -> int | None:
    """The answer timeout field; a form without it (an older page) keeps the default."""
    if "answer_timeout_ms" not in form:
        return 5000
    return _integer(form, "answer_timeout_ms", errors, "an answer timeout in milliseconds")


def _proxy_common(form: FormData, errors: FieldErrors) -> tuple[str, str, int | None]:
    name, url = text(form, "name"), text(form, "url")
    if not name:
        errors.add("name", "Enter a name.")
    if not url:
        errors.add("url", "Enter the registry URL, e.g. https://registry-1.docker.io.")
    timeout = _integer(form, "connection_timeout_ms", errors, "a connection timeout in milliseconds")
    return name, url, timeout


def proxy_settings(form: FormData) -> tuple[ProxySettings | None, FieldErrors]:
    """An unsaved proxy from the add form (also what "Test connection" tries before saving)."""
    errors = FieldErrors()
    name, url, timeout = _proxy_common(form, errors)
    answer = _answer_timeout(form, errors)
    if errors or timeout is None or answer is None:
        return None, errors
    try:
        settings = ProxySettings(
            name=name,
            url=url,
            username=text(form, "username") or None,
            password=_password(form),
            ssl_validation=ticked(form, "ssl_validation"),
            connection_timeout_ms=timeout,
            answer_timeout_ms=answer,
            active=ticked(form, "active"),
            include=name_patterns(form, "include"),
            exclude=name_patterns(form, "exclude"),
        )
    except ValidationFailedError as error:
        errors.add(error.field or "name", error.message)
        return None, errors
    return settings, errors


def proxy_changes(form: FormData, current: ProxyView) -> tuple[ProxyChanges | None, FieldErrors]:
    """The edit form against the stored proxy: every field is sent, the password only when typed."""
    errors = FieldErrors()
    name, url, timeout = _proxy_common(form, errors)
    answer = _answer_timeout(form, errors) if "answer_timeout_ms" in form else current.answer_timeout_ms
    if errors or timeout is None or answer is None:
        return None, errors
    username = text(form, "username")
    clear = ticked(form, "clear_password")
    changes = ProxyChanges(
        name=name,
        url=url,
        username=username if username or current.username is not None else None,
        password=None if clear else _password(form),
        ssl_validation=ticked(form, "ssl_validation"),
        connection_timeout_ms=timeout,
        answer_timeout_ms=answer,
        active=ticked(form, "active"),
        clear_password=clear,
        include=tuple(name_patterns(form, "include")),
        exclude=tuple(name_patterns(form, "exclude")),
    )
    return changes, errors


def _password(form: FormData) -> str | None:
    value = form.get("password", "")
    # a password is taken exactly as typed (spaces may matter); empty means none / keep
    return value if isinstance(value, str) and value else None


def position(form: FormData, errors: FieldErrors, name: str = "position") -> int | None:
    """A 1-based position, or None when the field is absent or empty."""
    if not text(form, name):
        return None
    return _integer(form, name, errors, "a position")


def form_values(form: FormData, *fields: str) -> dict[str, str]:
    """What the user typed, to put back into a form shown again with errors (never the password)."""
    return {name: text(form, name) for name in fields if name != "password"}


def sentence(reason: str) -> str:
    """A service's reason as a sentence to show next to a field."""
    reason = reason.strip()
    if not reason:
        return "This value cannot be used."
    reason = reason[0].upper() + reason[1:]
    return reason if reason.endswith(".") else f"{reason}."
