"""The JSON bodies of the /api/v1 management API as pydantic v2 models: requests (``extra="forbid"``, so an
unknown field is a 422) and responses (built from the services' views, never carrying a password).

The same models validate requests, serialise responses and generate the OpenAPI document
(``cargohold.api.management.openapi``), so the document cannot drift from what the server does. Field names
are the snake_case field names of the service views in docs/architecture.md. The checks here are the shape
(types, ranges, name grammars); the services check the meaning (a URL's host, a host name, a position
within the list) and answer ``ValidationFailedError`` for what passes here but cannot be used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cargohold.models import ContentSource, Visibility
from cargohold.registry import values
from cargohold.registry.values import (
    AnswerTimeoutMs,
    Bytes,
    ConnectionTimeoutMs,
    EvictUnusedAfterDays,
    Flag,
    Hosts,
    ImageName,
    NameRules,
    Password,
    Pins,
    ProxyName,
    ProxyUrl,
    TagTtlSeconds,
    Username,
)

Position = Annotated[int, Field(ge=1, le=10_000)]


class _Request(BaseModel):
    """Strict: JSON types as the document says (no "5000" for 5000, no "no" for false); unknown fields 422."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


# --- requests -------------------------------------------------------------------------------------------


class ProxyFields(values.ProxyFields, _Request):
    """A proxy as a user describes it (the registry's one field list); the password is write-only."""


class ProxyCreate(ProxyFields):
    """A new proxy of a repository, at the end of the list unless ``position`` says where (1 = first)."""

    position: Position | None = None


class ProxyUpdate(_Request):
    """Changes to a proxy; an absent (or null) field stays as it is; no password keeps the stored one."""

    name: ProxyName | None = None
    url: ProxyUrl | None = None
    username: Username | None = Field(default=None, description="an empty string removes the username")
    password: Password | None = Field(default=None, description="write-only: never returned")
    clear_password: Flag = Field(default=False, description="remove the stored password")
    ssl_validation: Flag | None = None
    connection_timeout_ms: ConnectionTimeoutMs | None = None
    answer_timeout_ms: AnswerTimeoutMs | None = None
    active: Flag | None = None
    include: NameRules | None = Field(default=None, description="replaces the include patterns")
    exclude: NameRules | None = Field(default=None, description="replaces the exclude patterns")

    @field_validator("clear_password")
    @classmethod
    def _one_password_change(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("password") is not None:
            raise ValueError("give either password or clear_password, not both")
        return value


class RepositoryCreate(values.RepositoryFields, _Request):
    """A new repository (the registry's one field list), optionally with its proxies in priority order."""

    proxies: list[ProxyFields] = Field(default_factory=list, max_length=64)


class RepositoryUpdate(_Request):
    """Changes to a repository; an absent (or null) field stays as it is."""

    visibility: Visibility | None = None
    default: Flag | None = None
    hosts: Hosts | None = None
    tag_ttl_seconds: TagTtlSeconds | None = None
    max_cached_bytes: Bytes | None = Field(default=None, description="quota on cached content; 0: none")
    evict_unused_after_days: EvictUnusedAfterDays | None = Field(default=None, description="0: never")
    pins: Pins | None = Field(default=None, description="replaces the list; [] removes every pin")


class Move(_Request):
    """Where to move a proxy: 1 is asked first; the others shift."""

    position: Position


class ProbeRequest(_Request):
    """What a proxy test should also look up: one image (tag ``latest``), optional."""

    image: ImageName | None = None


class ProxyProbeRequest(ProxyFields):
    """An unsaved proxy to test, and optionally one image to look up through it."""

    image: ImageName | None = None


class PurgeRequest(_Request):
    """Purge the cached content of the repository, or only what came through one of its proxies."""

    proxy: ProxyName | None = Field(
        default=None, description="only what came through this proxy (it may be one removed since)"
    )


# --- responses ------------------------------------------------------------------------------------------


class Proxy(_Response):
    """A proxy as anyone may see it; ``password_set`` says whether a password is stored."""

    name: str
    url: str
    username: str | None
    password_set: bool
    ssl_validation: bool
    connection_timeout_ms: int
    active: bool
    priority: int = Field(description="1 = asked first")
    include: list[str] = Field(description="name rules: asked only for image names matching one (none: all)")
    exclude: list[str] = Field(description="name rules: never asked for image names matching one")
    private_networks_approved: bool = Field(
        description="a global admin (or the config file) set the URL, so it may lead to loopback or private "
        "addresses (upstream.private_networks_require_admin); read-only"
    )
    answer_timeout_ms: int = Field(
        description="how long to wait for the response headers once connected (a stalled body is bounded by "
        "upstream.read_timeout_seconds)"
    )


SHARED = "a blob several images hold counts once per repository, and once in the store's total"


class RepositoryStorage(_Response):
    repository: str
    local_bytes: int = Field(description="pushed or mounted content (never evicted)")
    cached_bytes: int = Field(description="content fetched through a proxy (may be evicted)")
    total_bytes: int = Field(description=f"local + cached; {SHARED}")


class Repository(_Response):
    name: str
    visibility: Visibility
    default: bool
    hosts: list[str]
    tag_ttl_seconds: int
    managed_by_config: bool = Field(description="declared in the config file: changes answer 409")
    created_at: datetime | None
    proxies: list[Proxy] = Field(description="in priority order")
    max_cached_bytes: int = Field(description="quota on cached content in bytes; 0: none")
    evict_unused_after_days: int = Field(description="cached images not pulled this long go; 0: never")
    pins: list[str] = Field(description="images or tags never evicted")
    storage: RepositoryStorage | None = Field(default=None, description="bytes held (list and show only)")
    warnings: list[str] = Field(
        description="settings allowed but risky, e.g. a public repository whose proxy has credentials"
    )


class ProbeStep(_Response):
    name: str = Field(description='"resolve+connect", "tls", "auth", "ping" or "lookup"')
    ok: bool
    detail: str
    elapsed_ms: float


class ProbeResult(_Response):
    ok: bool
    steps: list[ProbeStep]
    elapsed_ms: float


class Tag(_Response):
    tag: str
    digest: str
    media_type: str
    size: int = Field(description="manifest + config + layers, as far as known")
    source: ContentSource
    proxy_name: str | None
    fetched_at: datetime | None
    last_pulled_at: datetime | None


class Image(_Response):
    name: str
    tags: list[Tag]
    manifests: int
    size: int
    source: ContentSource | None = Field(description="null when the image holds local and cached content")


class PurgeResult(_Response):
    manifests: int
    tags: int
    blobs: int


class ProxyStats(_Response):
    proxy: str
    requests: int
    hits: int
    misses: int
    bytes_fetched: int
    failures: dict[str, int] = Field(description="by failure kind")
    healthy: bool
    backoff_seconds: float
    last_failure: str | None


class RepositoryStats(_Response):
    repository: str
    requests: int
    cache_hits: int
    cache_misses: int
    bytes_served_from_cache: int
    bytes_fetched_upstream: int
    stale_served: int
    proxies: list[ProxyStats]
    evictions: int = Field(description="cached image versions evicted")
    evicted_bytes: int = Field(description="bytes those versions held in the repository")
    uncached_pulls: int = Field(description="blobs served through uncached: no room on the disk")
    uncached_bytes: int


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(description='"not_found", "conflict", "invalid", "bad_request", "too_large", …')
    message: str
    field: str | None = Field(default=None, description="the field at fault (validation errors only)")


class Error(BaseModel):
    """Every error of the management API."""

    error: ErrorDetail
