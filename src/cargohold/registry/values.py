"""The one vocabulary of validated values of repositories and proxies: each rule is written here once, as a
pydantic ``Annotated`` type, and the config file (``cargohold.config``), the management API's request models,
the web UI's forms and ``RepositoryAdmin`` all use these types, so they accept and refuse the same values
with the same messages.

Owns the types (repository, proxy and image names, a proxy's URL, ``hosts`` entries, ``tag_ttl_seconds``,
``connection_timeout_ms``, username, password, visibility, name rules, the cache policy: ``max_cached_bytes``,
``evict_unused_after_days``, ``pins``, and byte sizes), their limits, and the two field lists:
``ProxyFields`` (what a user sets on a proxy) and ``RepositoryFields`` (on a repository). The config and
API models extend them; a new proxy field is one line in ``ProxyFields``. ``ProxySettings`` and
``RepositorySettings`` are the same fields for code that builds them directly: a bad value raises
``ValidationFailedError(field, reason)``. ``check_changes`` holds a ``ProxyChanges`` or ``RepositoryChanges``
to the same field types. Messages never repeat a password.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from cargohold.errors import NameInvalidError, ValidationFailedError
from cargohold.models import (
    PATH_COMPONENT,
    ProxyChanges,
    RepositoryChanges,
    Visibility,
    validate_image_name,
    validate_proxy_name,
    validate_repository_name,
)
from cargohold.registry.addresses import check_proxy_url, normalise_host
from cargohold.registry.name_rules import MAX_PATTERN_CHARS, MAX_PATTERNS, check_pattern

__all__ = [
    "MAX_BYTES",
    "MAX_CONNECTION_TIMEOUT_MS",
    "MAX_EVICT_DAYS",
    "MAX_HOSTS",
    "MAX_PASSWORD_CHARS",
    "MAX_PINS",
    "MAX_TAG_TTL_SECONDS",
    "MAX_USERNAME_CHARS",
    "URL_PATTERN",
    "AnswerTimeoutMs",
    "Bytes",
    "ConnectionTimeoutMs",
    "EvictUnusedAfterDays",
    "Flag",
    "Host",
    "Hosts",
    "ImageName",
    "NamePattern",
    "NameRules",
    "Password",
    "Pin",
    "Pins",
    "ProxyFields",
    "ProxyName",
    "ProxySettings",
    "ProxyUrl",
    "RepositoryFields",
    "RepositoryName",
    "RepositorySettings",
    "TagTtlSeconds",
    "Username",
    "Visibility",
    "check_changes",
    "validation_failed",
]

MAX_TAG_TTL_SECONDS: Final = 10 * 365 * 24 * 3600
"""``tag_ttl_seconds`` is 0 to ten years (315360000): it fits the 32-bit database column and a timedelta."""
MAX_CONNECTION_TIMEOUT_MS: Final = 600_000
"""A proxy's ``connection_timeout_ms`` is 1 to this (ten minutes)."""
MAX_ANSWER_TIMEOUT_MS: Final = 3_600_000
"""A proxy's ``answer_timeout_ms`` is 1 to this (an hour: a cache in front of a slow registry may answer a
blob request only once it has the whole blob)."""
MAX_USERNAME_CHARS: Final = 256
MAX_PASSWORD_CHARS: Final = 4096
MAX_HOSTS: Final = 64
MAX_URL_CHARS: Final = 2048
MAX_BYTES: Final = 2**62
"""A byte size (a quota, a limit) fits the 64-bit database column with room to add."""
MAX_EVICT_DAYS: Final = 3650
MAX_PINS: Final = 100
MAX_PIN_CHARS: Final = 300
PIN_PATTERN: Final = r"^[A-Za-z0-9._/*?\[\]-]+(?::[A-Za-z0-9._*?\[\]-]+|@sha256:[0-9a-f*?]+)?$"
"""A pin: an image name pattern, optionally ``:tag`` pattern or ``@sha256:…``; ``*`` and ``?`` are globs."""
URL_PATTERN: Final = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+(/[A-Za-z0-9._~-]+)*/?$"
"""The shape of a proxy URL, for the OpenAPI document (the rule itself is ``check_proxy_url``)."""


def _domain_rule(rule: Any, hint: str = "") -> AfterValidator:
    """A ``cargohold.models`` grammar (raising NameInvalidError) as a pydantic validator."""

    def check(value: str) -> str:
        try:
            return str(rule(value))
        except NameInvalidError as exc:
            raise ValueError(f"{exc.message}{hint}") from None

    return AfterValidator(check)


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


def _control_characters(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _username(value: str) -> str:
    """Stripped; it goes into a Basic header, so no colon and no control characters. '' means none."""
    value = value.strip()
    if len(value) > MAX_USERNAME_CHARS:
        raise ValueError(f"at most {MAX_USERNAME_CHARS} characters")
    if ":" in value or _control_characters(value):
        raise ValueError("must not contain ':' or control characters")
    return value


def _password(value: SecretStr) -> SecretStr:
    """Taken as given (spaces may matter); the messages never repeat it. '' means none."""
    text = value.get_secret_value()
    if len(text) > MAX_PASSWORD_CHARS:
        raise ValueError(f"at most {MAX_PASSWORD_CHARS} characters")
    if _control_characters(text):
        raise ValueError("must not contain line breaks or other control characters")
    return value


def _unique(hosts: list[str]) -> list[str]:
    return list(dict.fromkeys(hosts))


def _pin(value: str) -> str:
    """``image``, ``image:tag`` or ``image@sha256:hex``, each part a glob (``library/python:3.*``)."""
    value = value.strip()
    if not value or len(value) > MAX_PIN_CHARS:
        raise ValueError(f"a pin is 1 to {MAX_PIN_CHARS} characters")
    if re.fullmatch(PIN_PATTERN, value) is None:
        raise ValueError(
            "a pin is an image name pattern, optionally with :tag or @sha256:digest "
            "(letters, digits, . _ - / and the globs * ? [ ])"
        )
    return value


RepositoryName = Annotated[
    str,
    _domain_rule(
        validate_repository_name,
        ": use one lowercase path component of letters, digits and . _ - (at most 64 characters)",
    ),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64, "pattern": f"^{PATH_COMPONENT}$"}),
]
ProxyName = Annotated[
    str,
    _domain_rule(validate_proxy_name),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
    ),
]
ImageName = Annotated[
    str,
    _domain_rule(validate_image_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": f"^{PATH_COMPONENT}(?:/{PATH_COMPONENT})*$",
        }
    ),
]
ProxyUrl = Annotated[
    str,
    Field(max_length=MAX_URL_CHARS),
    AfterValidator(check_proxy_url),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 8,
            "maxLength": MAX_URL_CHARS,
            "pattern": URL_PATTERN,
            "description": (
                "http:// or https:// and host[:port], optionally a path where the registry's /v2/ API lives "
                "(e.g. Artifactory's /artifactory/api/docker/REPO): no credentials, query or fragment"
            ),
        }
    ),
]
Host = Annotated[str, Field(max_length=260), AfterValidator(normalise_host)]
"""A ``hosts`` entry: ``host[:port]``, lowercased."""
Hosts = Annotated[list[Host], Field(max_length=MAX_HOSTS), AfterValidator(_unique)]
TagTtlSeconds = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=0, le=MAX_TAG_TTL_SECONDS)]
ConnectionTimeoutMs = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=1, le=MAX_CONNECTION_TIMEOUT_MS)]
AnswerTimeoutMs = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=1, le=MAX_ANSWER_TIMEOUT_MS)]
Username = Annotated[
    str,
    AfterValidator(_username),
    WithJsonSchema({"type": "string", "maxLength": MAX_USERNAME_CHARS, "description": "no ':'"}),
]
Password = Annotated[
    SecretStr,
    AfterValidator(_password),
    WithJsonSchema({"type": "string", "maxLength": MAX_PASSWORD_CHARS, "writeOnly": True}),
]
Bytes = Annotated[
    ByteSize,
    BeforeValidator(_not_a_bool),
    Field(ge=0, le=MAX_BYTES),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_BYTES},
                {"type": "string", "pattern": r"^\s*\d*\.?\d+\s*[A-Za-z]*\s*$"},
            ],
            "description": 'bytes, or a size with a unit: "500MiB", "50GiB", "1TB"',
        }
    ),
]
"""A byte size: an integer, or a string with a unit (``"50GiB"``); 0 means no limit where a limit is meant."""
EvictUnusedAfterDays = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=0, le=MAX_EVICT_DAYS)]
"""Cached images not pulled for this many days are evicted; 0 turns it off."""
Pin = Annotated[str, AfterValidator(_pin), WithJsonSchema({"type": "string", "pattern": PIN_PATTERN})]
Pins = Annotated[list[Pin], Field(max_length=MAX_PINS), AfterValidator(_unique)]
NamePattern = Annotated[
    str,
    AfterValidator(check_pattern),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PATTERN_CHARS,
            "description": "a glob on the image name: * and ? within a component, ** across them",
        }
    ),
]
NameRules = Annotated[list[NamePattern], Field(max_length=MAX_PATTERNS), AfterValidator(_unique)]
"""A proxy's ``include`` or ``exclude`` list (``cargohold.registry.name_rules``)."""
Flag = StrictBool
"""true or false, nothing that merely looks like one (``"no"``)."""


def validation_failed(error: ValidationError) -> ValidationFailedError:
    """The first problem of ``error`` as a ValidationFailedError naming its (top-level) field."""
    first = error.errors(include_input=False, include_url=False, include_context=False)[0]
    field = str(first["loc"][0]) if first["loc"] else "body"
    reason = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
    return ValidationFailedError(field, reason.removeprefix("Value error, "))


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxyFields(_Fields):
    """One upstream registry of a repository as a user sets it; its priority is its place in the list.
    The config file's ``ProxyConfig`` and the API's request models extend it."""

    name: ProxyName
    url: ProxyUrl
    username: Username | None = None
    password: Password | None = Field(default=None, description="write-only: never returned")
    ssl_validation: Flag = True
    connection_timeout_ms: ConnectionTimeoutMs = 5000
    answer_timeout_ms: AnswerTimeoutMs = 5000
    active: Flag = True
    include: NameRules = Field(
        default_factory=list, description="asked only for image names matching one of these (none: all)"
    )
    exclude: NameRules = Field(default_factory=list, description="never asked for names matching these")


class RepositoryFields(_Fields):
    """A repository as a user sets it (its proxies are added as ``ProxyFields``)."""

    name: RepositoryName
    visibility: Visibility = Visibility.PUBLIC
    default: Flag = False
    hosts: Hosts = Field(default_factory=list)
    tag_ttl_seconds: TagTtlSeconds = 300
    max_cached_bytes: Bytes = Field(default=ByteSize(0), description="quota on cached content; 0: none")
    evict_unused_after_days: EvictUnusedAfterDays = Field(
        default=0, description="evict cached images not pulled for this many days; 0: never"
    )
    pins: Pins = Field(default_factory=list, description="images or tags never evicted (globs allowed)")


class _RaisesDomainError(BaseModel):
    """Built with a bad value, raise ValidationFailedError (not pydantic's error). Only for the leaf
    classes: pydantic calls a custom ``__init__`` for nested models too, and the config file and the API
    report pydantic errors at their dotted path."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise validation_failed(error) from None


class ProxySettings(ProxyFields, _RaisesDomainError):
    """``ProxyFields`` for code that builds them (web UI, tests): a bad value is a ValidationFailedError."""

    @classmethod
    def of(cls, fields: ProxyFields) -> ProxySettings:
        """The settings part of ``fields`` (e.g. an API request that carries more)."""
        return cls(**{name: getattr(fields, name) for name in ProxyFields.model_fields})


class RepositorySettings(RepositoryFields, _RaisesDomainError):
    """``RepositoryFields`` for code that builds them: a bad value is a ValidationFailedError."""


_C = TypeVar("_C", ProxyChanges, RepositoryChanges)


@cache
def _field_type(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def check_changes(changes: _C) -> _C:
    """``changes`` with each given field (not None) held to its type in ``ProxySettings`` or
    ``RepositorySettings``; ValidationFailedError naming the first bad field."""
    model = ProxyFields if isinstance(changes, ProxyChanges) else RepositoryFields
    checked: dict[str, Any] = {}
    for field in dataclasses.fields(changes):
        value = getattr(changes, field.name)
        if value is None or field.name not in model.model_fields:
            continue
        try:
            checked_value = _field_type(model, field.name).validate_python(value)
        except ValidationError as error:
            reason = validation_failed(error).reason
            raise ValidationFailedError(field.name, reason) from None
        if isinstance(checked_value, SecretStr):
            checked_value = checked_value.get_secret_value()
        checked[field.name] = tuple(checked_value) if isinstance(value, tuple) else checked_value
    return dataclasses.replace(changes, **checked)
