"""Value types and entities shared by every layer: digests, names, references, media types, and the
records the metadata store keeps (repositories, proxies, manifests, tags, uploads).

Parsing functions here are the only place the OCI grammars live; they raise the domain errors of
``cargohold.errors`` and never build a path or touch storage.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from cargohold.errors import DigestInvalidError, NameInvalidError, TagInvalidError

# --- grammars (OCI distribution spec, "Pulling manifests" and the image-spec digest grammar) -------------

PATH_COMPONENT: Final = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_COMPONENT_RE: Final = re.compile(rf"^{PATH_COMPONENT}$")
_NAME_RE: Final = re.compile(rf"^{PATH_COMPONENT}(?:/{PATH_COMPONENT})*$")
_TAG_RE: Final = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_DIGEST_RE: Final = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_PROXY_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NAME_LENGTH: Final = 255
MAX_CONNECTION_TIMEOUT_MS: Final = 600_000
"""A proxy's ``connection_timeout_ms`` is 1 to this (ten minutes)."""

_HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as ``sha256:<64 hex>``; only sha256 and sha512 are accepted."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algorithm:encoded``; raise DigestInvalidError for anything malformed or unsupported."""
        if len(text) > 200 or not _DIGEST_RE.fullmatch(text):
            raise DigestInvalidError(f"invalid digest {text[:80]!r}")
        algorithm, encoded = text.split(":", 1)
        length = _HEX_LENGTHS.get(algorithm)
        if length is None:
            raise DigestInvalidError(f"unsupported digest algorithm {algorithm!r}")
        if len(encoded) != length or not all(c in "0123456789abcdef" for c in encoded):
            raise DigestInvalidError(f"invalid {algorithm} digest {text[:80]!r}")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def is_digest(text: str) -> bool:
    """True when ``text`` looks like a digest (contains ``:``) rather than a tag."""
    return ":" in text


def validate_tag(text: str) -> str:
    """Return ``text`` if it is a valid tag, else raise TagInvalidError."""
    if not _TAG_RE.fullmatch(text):
        raise TagInvalidError(f"invalid tag {text[:140]!r}")
    return text


def validate_repository_name(text: str) -> str:
    """A repository name is one lowercase path component (``hub``, ``company-images``)."""
    if len(text) > 64 or not _COMPONENT_RE.fullmatch(text):
        raise NameInvalidError(f"invalid repository name {text[:80]!r}")
    return text


def validate_proxy_name(text: str) -> str:
    """A proxy name is 1 to 64 letters, digits and ``. _ -``, starting with a letter or digit."""
    if not _PROXY_NAME_RE.fullmatch(text):
        raise NameInvalidError(
            f"invalid proxy name {text[:80]!r}: a proxy name is 1 to 64 letters, digits and . _ - "
            "and starts with a letter or digit"
        )
    return text


def validate_image_name(text: str) -> str:
    """An image name is one or more path components (``library/nginx``)."""
    if len(text) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(text):
        raise NameInvalidError(f"invalid image name {text[:80]!r}")
    return text


def validate_full_name(text: str) -> str:
    """The ``<name>`` of a /v2 URL: the OCI name grammar, at most 255 characters."""
    if len(text) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(text):
        raise NameInvalidError(f"invalid repository name {text[:80]!r}")
    return text


@dataclass(frozen=True, slots=True)
class Reference:
    """The ``<reference>`` of a manifest URL: a tag or a digest, never both."""

    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if is_digest(text):
            return cls(digest=Digest.parse(text))
        return cls(tag=validate_tag(text))

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)


# --- media types --------------------------------------------------------------------------------------


class MediaType(StrEnum):
    DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
    DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
    DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    OCI_INDEX = "application/vnd.oci.image.index.v1+json"
    OCI_EMPTY = "application/vnd.oci.empty.v1+json"


MANIFEST_MEDIA_TYPES: Final = frozenset(
    {MediaType.DOCKER_MANIFEST, MediaType.DOCKER_MANIFEST_LIST, MediaType.OCI_MANIFEST, MediaType.OCI_INDEX}
)
INDEX_MEDIA_TYPES: Final = frozenset({MediaType.DOCKER_MANIFEST_LIST, MediaType.OCI_INDEX})
MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024


# --- entities ----------------------------------------------------------------------------------------


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class ContentSource(StrEnum):
    LOCAL = "local"
    CACHED = "cached"


@dataclass(frozen=True, slots=True)
class Proxy:
    """One upstream registry of a repository; ``priority`` is its 1-based place in the list."""

    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_validation: bool = True
    connection_timeout_ms: int = 5000
    active: bool = True
    priority: int = 0
    id: int | None = None
    include: tuple[str, ...] = ()
    """Name rules: glob patterns of the image names this proxy is asked for (none: every name)."""
    exclude: tuple[str, ...] = ()
    """Name rules: glob patterns of image names this proxy is never asked for (they win over include)."""
    answer_timeout_ms: int = 5000
    """How long to wait for the response headers of a request (once connected) before the proxy counts as
    failed: an upstream that accepts connections and never answers costs this, not the read timeout."""
    private_networks_approved: bool = False
    """A global admin (or the config file) set this URL, so it may lead to loopback or private addresses
    (``upstream.private_networks_require_admin``); follows who set the URL, never a request body."""


@dataclass(frozen=True, slots=True)
class ProxyChanges:
    """A change to a proxy's settings; None leaves a field as it is. A ``password`` of None keeps the
    stored one; ``clear_password`` is the only way to remove it."""

    name: str | None = None
    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_validation: bool | None = None
    connection_timeout_ms: int | None = None
    active: bool | None = None
    clear_password: bool = False
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    answer_timeout_ms: int | None = None
    private_networks_approved: bool | None = None


@dataclass(frozen=True, slots=True)
class Repository:
    """The unit users create and manage; clients address it as ``HOST/<name>/<image>:<tag>``."""

    name: str
    visibility: Visibility = Visibility.PUBLIC
    default: bool = False
    hosts: tuple[str, ...] = ()
    tag_ttl_seconds: int = 300
    managed_by_config: bool = False
    id: int | None = None
    max_cached_bytes: int = 0
    """Quota on the repository's cached content; 0: none."""
    evict_unused_after_days: int = 0
    """Cached image versions not pulled for this long are evicted; 0: never."""
    pins: tuple[str, ...] = ()
    """Image or tag patterns never evicted."""
    created_at: datetime | None = None
    revision: int = 0
    """Counts the changes of the repository and its proxies (optimistic concurrency: its ETag)."""


@dataclass(frozen=True, slots=True)
class RepositoryChanges:
    """A change to a repository's settings; None leaves a field as it is."""

    visibility: Visibility | None = None
    default: bool | None = None
    hosts: tuple[str, ...] | None = None
    tag_ttl_seconds: int | None = None
    max_cached_bytes: int | None = None
    evict_unused_after_days: int | None = None
    pins: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    """What the metadata store knows of one manifest in one image; its bytes live in the blob store."""

    digest: Digest
    media_type: str
    size: int
    artifact_type: str | None = None
    subject: Digest | None = None
    annotations: dict[str, str] | None = None
    source: ContentSource = ContentSource.LOCAL
    proxy_name: str | None = None
    created_at: datetime | None = None
    last_pulled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ManifestReferences:
    """The blobs (layers, config) and child manifests a manifest points to."""

    blobs: tuple[Digest, ...] = ()
    manifests: tuple[Digest, ...] = ()


@dataclass(frozen=True, slots=True)
class BlobLink:
    """A blob readable in an image, and where it came from."""

    digest: Digest
    size: int
    source: ContentSource = ContentSource.LOCAL
    proxy_name: str | None = None
    last_pulled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    """One record that holds a stored digest: a blob link or a manifest of an image (for ``fsck``)."""

    digest: Digest
    repository_id: int
    repository: str
    image: str
    kind: str
    """``blob`` or ``manifest``."""
    size: int
    source: ContentSource = ContentSource.LOCAL
    proxy_name: str | None = None


@dataclass(frozen=True, slots=True)
class TagRecord:
    tag: str
    digest: Digest
    updated_at: datetime | None = None
    source: ContentSource = ContentSource.LOCAL
    proxy_name: str | None = None


@dataclass(frozen=True, slots=True)
class ImageContent:
    """Everything the metadata store knows of one image, for listings: its manifests with what each one
    references, its tags, and its blob links (with their sizes)."""

    image: str
    manifests: tuple[ManifestRecord, ...] = ()
    references: tuple[tuple[Digest, ManifestReferences], ...] = ()
    tags: tuple[TagRecord, ...] = ()
    blobs: tuple[BlobLink, ...] = ()


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    """Bytes a repository's images hold, each digest counted once per repository: ``local`` (pushed or
    mounted: never evicted) and ``cached`` (fetched through a proxy). A digest both local and cached in the
    repository counts as local."""

    repository_id: int
    local_bytes: int = 0
    cached_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.local_bytes + self.cached_bytes


@dataclass(frozen=True, slots=True)
class StoreUsage:
    """Bytes held by every repository, and ``total_bytes``: every digest once across the whole store (a blob
    two repositories hold counts in both of them but once here)."""

    repositories: dict[int, RepositoryUsage]
    total_bytes: int


@dataclass(frozen=True, slots=True)
class Upload:
    """An upload session: bytes received so far live in the blob store's spool under ``id``."""

    id: str
    repository_id: int
    image: str
    offset: int = 0
    created_at: datetime | None = None
    owner: str | None = None
    updated_at: datetime | None = None
    """When it last received bytes (its start, before the first); idle sessions expire."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Caps on the upload sessions open at once: only sessions active since ``active_since`` count; a cap
    of 0 is no cap. An owner of None (anonymous) has no per-owner cap."""

    active_since: datetime
    per_owner: int = 0
    per_repository: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a paginated listing; ``more`` says whether a next page exists."""

    items: list[str] = field(default_factory=list)
    more: bool = False


# --- users and access tokens (cargohold.auth gives them meaning) -------------------------------------


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the metadata store keeps it. ``grants`` maps repository names to a permission
    (``read``, ``write`` or ``admin``); ``password_hash`` is an argon2id PHC string."""

    name: str
    password_hash: str = field(repr=False)
    is_admin: bool = False
    grants: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    """A personal access token as the metadata store keeps it (never its secret: only the sha256 of it
    is stored, and this record does not carry even that)."""

    user: str
    name: str
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    id: int | None = None
