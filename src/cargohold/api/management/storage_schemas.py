"""The JSON bodies of the storage operations (``GET /api/v1/storage``, ``GET …/repositories/{repo}/storage``)
as pydantic v2 response models in the style of ``schemas``."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from cargohold.api.management.schemas import SHARED, RepositoryStorage, _Response

__all__ = ["ImageUsage", "RepositoryBreakdown", "RepositoryStorage", "StoreStorage"]


class StoreStorage(_Response):
    repositories: list[RepositoryStorage]
    total_bytes: int = Field(description=f"every stored digest once; {SHARED}")
    disk_total_bytes: int | None = Field(description="the size of the data directory's filesystem")
    disk_free_bytes: int | None = Field(description="bytes still free on it")


class ImageUsage(_Response):
    name: str
    size: int = Field(description="its manifests and linked blobs, each once")
    last_pulled_at: datetime | None = Field(description="null: not pulled since it was stored")


class RepositoryBreakdown(_Response):
    storage: RepositoryStorage
    biggest_images: list[ImageUsage] = Field(description="biggest first")
    least_recently_pulled: list[ImageUsage] = Field(description="never pulled first, then oldest pull")
