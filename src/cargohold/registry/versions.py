"""Image versions, the unit of eviction: a cached manifest that no other manifest of its image refers to (a
tag's or a digest's target: an image manifest, or an index with its platform manifests), with what only it
holds in its repository, when it was last used, and whether a pin keeps it.

``cached_versions`` reads them from a repository's image contents. A version's ``size`` is the bytes that
evicting it takes off the repository's cached content: its manifests and blobs that no other version (cached
or local) of the repository references and no local link holds. ``pinned`` matches a repository's pins:
``image`` (every version of the image), ``image:tag`` (the versions a matching tag points at) or
``image@sha256:…`` (one digest); each part may use the globs ``*``, ``?`` and ``[…]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from cargohold.models import ContentSource, Digest, ImageContent, ManifestReferences

__all__ = ["ImageVersion", "cached_versions", "pinned"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ImageVersion:
    repository_id: int
    image: str
    digest: Digest
    tags: tuple[str, ...]
    pulled_at: datetime | None
    """The last recorded pull of the version's manifest (None: never pulled since stored)."""
    last_used: datetime
    """The latest of ``pulled_at`` (or when it was stored, when never pulled) and the last pulls of the blobs
    only it holds (a client that kept the manifest and pulls layers keeps the version in use)."""
    size: int
    """Bytes only this version holds in its repository."""
    pinned: bool


def pinned(pins: Iterable[str], image: str, tags: Sequence[str], digest: Digest) -> bool:
    """Whether one of ``pins`` keeps the version ``image@digest`` tagged ``tags``."""
    for pin in pins:
        if "@" in pin:
            image_pattern, digest_pattern = pin.split("@", 1)
            if fnmatchcase(image, image_pattern) and fnmatchcase(str(digest), digest_pattern):
                return True
        elif ":" in pin:
            image_pattern, tag_pattern = pin.split(":", 1)
            if fnmatchcase(image, image_pattern) and any(fnmatchcase(tag, tag_pattern) for tag in tags):
                return True
        elif fnmatchcase(image, pin):
            return True
    return False


def cached_versions(
    repository_id: int, contents: Sequence[ImageContent], pins: Sequence[str] = ()
) -> list[ImageVersion]:
    """The cached versions of a repository's images, least recently used first."""
    holders: Counter[Digest] = Counter()
    """How many versions (local ones too) reach each digest; a local link counts as one more."""
    reached: list[tuple[ImageContent, Digest, set[Digest], dict[Digest, int]]] = []
    blob_pulls: dict[tuple[str, Digest], datetime] = {}
    for content in contents:
        for link in content.blobs:
            if link.last_pulled_at is not None:
                blob_pulls[(content.image, link.digest)] = link.last_pulled_at
        references = dict(content.references)
        sizes = {link.digest: link.size for link in content.blobs}
        sizes.update({record.digest: record.size for record in content.manifests})
        children = {child for refs in references.values() for child in refs.manifests}
        for link in content.blobs:
            if link.source is ContentSource.LOCAL:
                holders[link.digest] += 1
        for record in content.manifests:
            if record.digest in children:
                continue
            reach = _reach(record.digest, references)
            holders.update(reach)
            if record.source is ContentSource.LOCAL:
                holders.update(reach)  # never evicted: what it reaches is never exclusive
            reached.append((content, record.digest, reach, sizes))
    versions = []
    for content, digest, reach, sizes in reached:
        record = next(record for record in content.manifests if record.digest == digest)
        if record.source is not ContentSource.CACHED:
            continue
        tags = tuple(tag.tag for tag in content.tags if tag.digest == digest)
        if any(tag.digest == digest and tag.source is ContentSource.LOCAL for tag in content.tags):
            continue  # local content needs it
        stored = record.last_pulled_at or record.created_at or _EPOCH
        own = [item for item in reach if holders[item] == 1]
        last_used = max(
            [
                stored,
                *(blob_pulls[(content.image, item)] for item in own if (content.image, item) in blob_pulls),
            ]
        )
        versions.append(
            ImageVersion(
                repository_id=repository_id,
                image=content.image,
                digest=digest,
                tags=tags,
                pulled_at=record.last_pulled_at,
                last_used=last_used,
                size=sum(sizes.get(item, 0) for item in own),
                pinned=pinned(pins, content.image, tags, digest),
            )
        )
    return sorted(versions, key=lambda version: (version.last_used, version.image, str(version.digest)))


def _reach(root: Digest, references: dict[Digest, ManifestReferences]) -> set[Digest]:
    """The manifest ``root``, its child manifests (transitively) and every blob they reference."""
    seen: set[Digest] = set()
    pending = [root]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        refs = references.get(current)
        if refs is not None:
            seen.update(refs.blobs)
            pending.extend(refs.manifests)
    return seen
