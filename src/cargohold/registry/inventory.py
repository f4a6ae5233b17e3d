"""``Inventory``: what a repository holds, as the management views show it — its images with their tags
(digest, media type, size, local or cached, from which proxy, when fetched and last pulled) — and deleting a
tag, a whole image, or everything cached from the proxies (or from one proxy).

Sizes come from the metadata store alone: a tag's size is its manifest plus the blobs it references that
are linked into the image (config and layers), and for an index also its child manifests and their blobs;
an image's size is all its manifests plus all its linked blobs, each counted once. Deleting content is
allowed in repositories the config file manages (content is not configuration). Blob bytes are left for
the garbage collector.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from cargohold.errors import (
    CargoholdError,
    ManifestUnknownError,
    NameUnknownError,
)
from cargohold.metadata.base import ContentStore, InventoryStore, RepositoryStore
from cargohold.models import (
    ContentSource,
    Digest,
    ImageContent,
    ManifestRecord,
    ManifestReferences,
    Repository,
    validate_image_name,
    validate_tag,
)

__all__ = ["ImageView", "Inventory", "PurgeResult", "TagView"]


@dataclass(frozen=True)
class TagView:
    tag: str
    digest: str
    media_type: str
    size: int
    """The manifest plus the config and layers (and child manifests of an index) when known."""
    source: ContentSource
    proxy_name: str | None
    fetched_at: datetime | None
    """When a cached tag was last fetched or revalidated from its proxy; None for local tags."""
    last_pulled_at: datetime | None


@dataclass(frozen=True)
class ImageView:
    name: str
    tags: tuple[TagView, ...]
    manifests: int
    size: int
    source: ContentSource | None
    """LOCAL or CACHED when all its manifests are; None when mixed."""


@dataclass(frozen=True)
class PurgeResult:
    manifests: int
    tags: int
    blobs: int


class Inventory:
    def __init__(
        self,
        repositories: RepositoryStore,
        content: ContentStore,
        inventory: InventoryStore,
        before_read: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._repositories = repositories
        self._content = content
        self._inventory = inventory
        self._before_read = before_read
        """Called before listing, so pulls this process noted but has not yet written show up."""

    async def images(self, repository: str) -> list[ImageView]:
        """Images holding a manifest, by name. NameUnknownError for an unknown repository."""
        if self._before_read is not None:
            await self._before_read()
        repository_id = await self._repository_id(repository)
        return [_image_view(content) for content in await self._inventory.image_contents(repository_id)]

    async def image(self, repository: str, image: str) -> ImageView:
        """NameUnknownError for an unknown repository or an image holding no manifest."""
        if self._before_read is not None:
            await self._before_read()
        repository_id = await self._repository_id(repository)
        _image_name(image)
        found = await self._inventory.image_contents(repository_id, image)
        if not found:
            raise NameUnknownError(f"repository {repository!r} has no image {image[:200]!r}")
        return _image_view(found[0])

    async def delete_tag(self, repository: str, image: str, tag: str) -> None:
        """ManifestUnknownError when the image has no such tag (its manifest stays)."""
        repository_id = await self._repository_id(repository)
        _image_name(image)
        try:
            validate_tag(tag)
        except CargoholdError:
            raise ManifestUnknownError(f"no tag {tag[:140]!r} in {image[:200]!r}") from None
        if not await self._content.delete_tag(repository_id, image, tag):
            raise ManifestUnknownError(f"no tag {tag!r} in {image!r}")

    async def delete_image(self, repository: str, image: str) -> None:
        """Every manifest, tag and blob link of the image. NameUnknownError when it holds nothing."""
        repository_id = await self._repository_id(repository)
        _image_name(image)
        if not await self._inventory.delete_image(repository_id, image):
            raise NameUnknownError(f"repository {repository!r} has no image {image!r}")

    async def purge_cached(self, repository: str, proxy: str | None = None) -> PurgeResult:
        """Forget what was cached from every proxy, or from ``proxy`` (also one since removed or renamed
        away). Local content, and cached content local content needs, stays."""
        repository_id = await self._repository_id(repository)
        manifests, tags, blobs = await self._inventory.purge_cached(repository_id, proxy)
        return PurgeResult(manifests=manifests, tags=tags, blobs=blobs)

    async def _repository_id(self, name: str) -> int:
        found: Repository | None = await self._repositories.get_repository(name)
        if found is None or found.id is None:
            raise NameUnknownError(f"repository {name[:80]!r} unknown")
        return found.id


def _image_name(image: str) -> None:
    try:
        validate_image_name(image)
    except CargoholdError:
        raise NameUnknownError(f"no image {image[:200]!r}") from None


def _image_view(content: ImageContent) -> ImageView:
    manifests = {record.digest: record for record in content.manifests}
    references = dict(content.references)
    blob_sizes = {link.digest: link.size for link in content.blobs}
    tags = tuple(
        TagView(
            tag=tag.tag,
            digest=str(tag.digest),
            media_type=manifests[tag.digest].media_type if tag.digest in manifests else "",
            size=_size(tag.digest, manifests, references, blob_sizes),
            source=tag.source,
            proxy_name=tag.proxy_name,
            fetched_at=tag.updated_at if tag.source is ContentSource.CACHED else None,
            last_pulled_at=manifests[tag.digest].last_pulled_at if tag.digest in manifests else None,
        )
        for tag in content.tags
    )
    sources = {record.source for record in content.manifests}
    return ImageView(
        name=content.image,
        tags=tags,
        manifests=len(manifests),
        size=sum(record.size for record in content.manifests) + sum(blob_sizes.values()),
        source=sources.pop() if len(sources) == 1 else None,
    )


def _size(
    digest: Digest,
    manifests: dict[Digest, ManifestRecord],
    references: dict[Digest, ManifestReferences],
    blob_sizes: dict[Digest, int],
) -> int:
    """A manifest's size with its children and blobs, each counted once; unknown parts count 0."""
    seen: set[Digest] = set()
    blobs: set[Digest] = set()
    pending = [digest]
    total = 0
    while pending:
        current = pending.pop()
        if current in seen or current not in manifests:
            continue
        seen.add(current)
        total += manifests[current].size
        refs = references.get(current, ManifestReferences())
        blobs.update(refs.blobs)
        pending.extend(refs.manifests)
    return total + sum(blob_sizes.get(blob, 0) for blob in blobs)
