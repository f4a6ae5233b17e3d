"""Storage you can see: ``StorageAccounting`` answers how many bytes each repository holds, split into local
(pushed or mounted) and cached (fetched through a proxy) content, the store's total, and the disk's size and
free space; and, for one repository, its biggest and its least recently pulled images.

Sizes are those the metadata recorded when content was linked or stored. A blob several images of one
repository hold counts once for that repository; a blob two repositories hold counts in each of them, and
once in the store's total (so the repositories' sizes may add up to more than the total).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cargohold.errors import NameUnknownError
from cargohold.metadata.base import RepositoryStore, StorageStore
from cargohold.models import RepositoryUsage
from cargohold.registry.inventory import ImageView, Inventory
from cargohold.storage.base import DiskSpace

__all__ = ["ImageUsage", "RepositoryStorage", "StorageAccounting", "StoreStorage"]

TOP_IMAGES: Final = 10
"""How many of the biggest and of the least recently pulled images a repository's breakdown lists."""


@dataclass(frozen=True)
class RepositoryStorage:
    repository: str
    local_bytes: int
    cached_bytes: int
    total_bytes: int

    @classmethod
    def of(cls, name: str, usage: RepositoryUsage | None) -> RepositoryStorage:
        local = usage.local_bytes if usage is not None else 0
        cached = usage.cached_bytes if usage is not None else 0
        return cls(repository=name, local_bytes=local, cached_bytes=cached, total_bytes=local + cached)


@dataclass(frozen=True)
class StoreStorage:
    """The whole store: each repository, every digest once in ``total_bytes``, and the disk."""

    repositories: tuple[RepositoryStorage, ...]
    total_bytes: int
    disk_total_bytes: int | None
    disk_free_bytes: int | None


@dataclass(frozen=True)
class ImageUsage:
    name: str
    size: int
    last_pulled_at: datetime | None
    """The latest pull of any of its tags' manifests; None when never pulled since it was stored."""


@dataclass(frozen=True)
class RepositoryBreakdown:
    storage: RepositoryStorage
    biggest_images: tuple[ImageUsage, ...]
    least_recently_pulled: tuple[ImageUsage, ...]


class StorageAccounting:
    def __init__(
        self,
        repositories: RepositoryStore,
        storage: StorageStore,
        inventory: Inventory,
        space: Callable[[], DiskSpace] | None = None,
    ) -> None:
        self._repositories = repositories
        self._storage = storage
        self._inventory = inventory
        self._space = space

    async def store(self) -> StoreStorage:
        usage = await self._storage.storage_usage()
        space = self.disk()
        return StoreStorage(
            repositories=tuple(
                RepositoryStorage.of(repository.name, usage.repositories.get(_id(repository.id)))
                for repository in await self._repositories.list_repositories()
            ),
            total_bytes=usage.total_bytes,
            disk_total_bytes=space.total_bytes if space is not None else None,
            disk_free_bytes=space.free_bytes if space is not None else None,
        )

    async def by_name(self) -> dict[str, RepositoryStorage]:
        """Every repository's storage, by name."""
        return {storage.repository: storage for storage in (await self.store()).repositories}

    async def usage(self, name: str) -> RepositoryStorage:
        """One repository's bytes. NameUnknownError for an unknown repository."""
        repository = await self._repositories.get_repository(name)
        if repository is None:
            raise NameUnknownError(f"repository {name[:80]!r} unknown")
        usage = await self._storage.storage_usage()
        return RepositoryStorage.of(name, usage.repositories.get(_id(repository.id)))

    async def repository(self, name: str) -> RepositoryBreakdown:
        """NameUnknownError for an unknown repository."""
        repository = await self._repositories.get_repository(name)
        if repository is None:
            raise NameUnknownError(f"repository {name[:80]!r} unknown")
        usage = await self._storage.storage_usage()
        images = [_usage(view) for view in await self._inventory.images(name)]
        biggest = sorted(images, key=lambda image: (-image.size, image.name))[:TOP_IMAGES]
        oldest = sorted(
            images,
            key=lambda image: (image.last_pulled_at is not None, image.last_pulled_at or 0, image.name),
        )[:TOP_IMAGES]
        return RepositoryBreakdown(
            storage=RepositoryStorage.of(name, usage.repositories.get(_id(repository.id))),
            biggest_images=tuple(biggest),
            least_recently_pulled=tuple(oldest),
        )

    def disk(self) -> DiskSpace | None:
        return self._space() if self._space is not None else None


def _usage(view: ImageView) -> ImageUsage:
    pulls = [tag.last_pulled_at for tag in view.tags if tag.last_pulled_at is not None]
    return ImageUsage(name=view.name, size=view.size, last_pulled_at=max(pulls, default=None))


def _id(value: int | None) -> int:
    assert value is not None, "the store returns repositories with their id"
    return value
