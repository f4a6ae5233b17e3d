"""Handlers of the content operations of a repository: images and tags, deleting them, purging cached
content, and the repository's statistics."""

from __future__ import annotations

from cargohold.api.management.operation import Call
from cargohold.api.management.schemas import PurgeRequest
from cargohold.proxy.stats import RepositoryStats
from cargohold.registry.inventory import ImageView, PurgeResult


async def list_images(call: Call) -> list[ImageView]:
    return await call.services.inventory.images(call.param("repo"))


async def get_image(call: Call) -> ImageView:
    return await call.services.inventory.image(call.param("repo"), call.param("image"))


async def delete_image(call: Call) -> None:
    await call.services.inventory.delete_image(call.param("repo"), call.param("image"))


async def delete_tag(call: Call) -> None:
    await call.services.inventory.delete_tag(call.param("repo"), call.param("image"), call.param("tag"))


async def purge(call: Call) -> PurgeResult:
    proxy = call.body_as(PurgeRequest).proxy
    return await call.services.inventory.purge_cached(call.param("repo"), proxy)


async def repository_stats(call: Call) -> RepositoryStats:
    return await call.services.stats.repository(call.param("repo"))
