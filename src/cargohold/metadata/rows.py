"""Conversions between rows of the metadata tables and the records of ``cargohold.models``.

The SQL store writes digests, enums and hosts as plain text and reads them back here; nothing in this
module talks to a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from cargohold.models import (
    BlobLink,
    ContentSource,
    Digest,
    ManifestRecord,
    Proxy,
    Repository,
    TagRecord,
    Upload,
    Visibility,
)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def digest(text: str) -> Digest:
    """A digest the store wrote itself (already validated on the way in)."""
    algorithm, _, encoded = text.partition(":")
    return Digest(algorithm, encoded)


def optional_digest(text: str | None) -> Digest | None:
    return None if text is None else digest(text)


def normal_hosts(hosts: Iterable[str]) -> list[str]:
    """Hosts lower-cased, without duplicates, in their first order."""
    return list(dict.fromkeys(host.strip().lower() for host in hosts if host.strip()))


def repository_values(repository: Repository) -> dict[str, Any]:
    """The settings columns of a repository (not its id, name or creation time)."""
    return {
        "visibility": Visibility(repository.visibility).value,
        "is_default": repository.default,
        "tag_ttl_seconds": repository.tag_ttl_seconds,
        "managed_by_config": repository.managed_by_config,
        "max_cached_bytes": int(repository.max_cached_bytes),
        "evict_unused_after_days": repository.evict_unused_after_days,
        "pins": list(repository.pins) or None,
    }


def repository(row: Row[Any], hosts: Sequence[str]) -> Repository:
    return Repository(
        name=row.name,
        visibility=Visibility(row.visibility),
        default=row.is_default,
        hosts=tuple(hosts),
        tag_ttl_seconds=row.tag_ttl_seconds,
        managed_by_config=row.managed_by_config,
        id=row.id,
        created_at=row.created_at,
        max_cached_bytes=int(row.max_cached_bytes),
        evict_unused_after_days=row.evict_unused_after_days,
        pins=tuple(row.pins or ()),
        revision=row.revision,
    )


def proxy_values(proxy: Proxy, priority: int) -> dict[str, Any]:
    """The columns of a proxy at ``priority`` (its 1-based place in the list), except its repository."""
    return {
        "name": proxy.name,
        "url": proxy.url,
        "username": proxy.username,
        "password": proxy.password,
        "ssl_validation": proxy.ssl_validation,
        "connection_timeout_ms": proxy.connection_timeout_ms,
        "active": proxy.active,
        "priority": priority,
        "name_include": list(proxy.include),
        "name_exclude": list(proxy.exclude),
        "private_networks_approved": proxy.private_networks_approved,
        "answer_timeout_ms": proxy.answer_timeout_ms,
    }


def proxy(row: Row[Any]) -> Proxy:
    return Proxy(
        name=row.name,
        url=row.url,
        username=row.username,
        password=row.password,
        ssl_validation=row.ssl_validation,
        connection_timeout_ms=row.connection_timeout_ms,
        active=row.active,
        priority=row.priority,
        id=row.id,
        include=tuple(row.name_include or ()),
        exclude=tuple(row.name_exclude or ()),
        private_networks_approved=row.private_networks_approved,
        answer_timeout_ms=row.answer_timeout_ms,
    )


def manifest(row: Row[Any]) -> ManifestRecord:
    annotations: Mapping[str, str] | None = row.annotations
    return ManifestRecord(
        digest=digest(row.digest),
        media_type=row.media_type,
        size=row.size,
        artifact_type=row.artifact_type,
        subject=optional_digest(row.subject),
        annotations=None if annotations is None else dict(annotations),
        source=ContentSource(row.source),
        proxy_name=row.proxy_name,
        created_at=row.created_at,
        last_pulled_at=row.last_pulled_at,
    )


def blob_link(row: Row[Any]) -> BlobLink:
    return BlobLink(
        digest=digest(row.digest),
        size=row.size,
        source=ContentSource(row.source),
        proxy_name=row.proxy_name,
        last_pulled_at=getattr(row, "last_pulled_at", None),
    )


def tag(row: Row[Any]) -> TagRecord:
    return TagRecord(
        tag=row.tag,
        digest=digest(row.digest),
        updated_at=row.updated_at,
        source=ContentSource(row.source),
        proxy_name=row.proxy_name,
    )


def upload(row: Row[Any]) -> Upload:
    return Upload(
        id=row.id,
        repository_id=row.repository_id,
        image=row.image,
        offset=row.offset,
        created_at=row.created_at,
        owner=row.owner,
        updated_at=row.updated_at,
    )
