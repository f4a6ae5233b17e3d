"""Contract: tag listings and the catalog are in byte order on every backend and paginate with n/last."""

from __future__ import annotations

import pytest

from cargohold.metadata.sql import Metadata
from cargohold.models import Digest, ManifestRecord, ManifestReferences, MediaType, Page, Repository

# Byte order: digits < upper case < "_" < lower case; "10" < "9"; a prefix sorts first.
TAGS = ["9", "10", "a", "A", "_x", "Z", "1.0", "1.0-rc", "1.0.1", "latest", "Latest", "b-2", "b"]


def byte_order(items: list[str]) -> list[str]:
    return sorted(items, key=lambda item: item.encode())


async def put(metadata: Metadata, repository_id: int, image: str, *tag_names: str) -> None:
    digest = Digest.of(image.encode())
    record = ManifestRecord(digest, MediaType.OCI_MANIFEST, 10)
    if not tag_names:
        await metadata.content.put_manifest(repository_id, image, record, ManifestReferences())
    for tag in tag_names:
        await metadata.content.put_manifest(repository_id, image, record, ManifestReferences(), tag=tag)


@pytest.fixture
async def tagged(metadata: Metadata) -> int:
    repository = await metadata.repositories.create_repository(Repository(name="hub"))
    assert repository.id is not None
    await put(metadata, repository.id, "app", *TAGS)
    await put(metadata, repository.id, "other", "zzz", "0")
    return repository.id


async def test_tags_in_byte_order(metadata: Metadata, tagged: int) -> None:
    page = await metadata.content.list_tags(tagged, "app", None, None)
    assert page == Page(items=byte_order(TAGS), more=False)
    assert page.items[:4] == ["1.0", "1.0-rc", "1.0.1", "10"]
    assert page.items.index("A") < page.items.index("a")
    assert page.items.index("10") < page.items.index("9")


async def test_tags_paginate_through_everything(metadata: Metadata, tagged: int) -> None:
    expected = byte_order(TAGS)
    seen: list[str] = []
    last: str | None = None
    while True:
        page = await metadata.content.list_tags(tagged, "app", 4, last)
        assert len(page.items) <= 4
        seen += page.items
        if not page.more:
            break
        last = page.items[-1]
    assert seen == expected


@pytest.mark.parametrize(
    ("n", "last", "expected"),
    [
        (0, None, Page([], False)),
        (0, "a", Page([], False)),
        (3, None, Page(["1.0", "1.0-rc", "1.0.1"], True)),
        (None, "Z", Page(["_x", "a", "b", "b-2", "latest"], False)),
        (2, "Z", Page(["_x", "a"], True)),
        (5, "Z", Page(["_x", "a", "b", "b-2", "latest"], False)),  # exactly the rest: no more
        (6, "Z", Page(["_x", "a", "b", "b-2", "latest"], False)),
        (2, "b-1", Page(["b-2", "latest"], False)),  # last between two tags
        (2, "latest", Page([], False)),  # last is the final tag
        (2, "zzzz", Page([], False)),  # last beyond the end
        (1, "0", Page(["1.0"], True)),  # last before the first
        (100, None, Page(byte_order(TAGS), False)),
    ],
)
async def test_tag_pagination_edges(
    metadata: Metadata, tagged: int, n: int | None, last: str | None, expected: Page
) -> None:
    assert await metadata.content.list_tags(tagged, "app", n, last) == expected


async def test_tags_of_an_unknown_image_are_empty(metadata: Metadata, tagged: int) -> None:
    assert await metadata.content.list_tags(tagged, "nothing", None, None) == Page([], False)
    assert await metadata.content.list_tags(tagged + 1000, "app", None, None) == Page([], False)


@pytest.fixture
async def populated(metadata: Metadata) -> list[str]:
    """Images in repositories whose names make tuple order and full-name byte order differ."""
    names = {"a": ["x", "10/app", "9/app", "b/c"], "a-b": ["x"], "b": ["library/nginx", "library/nginx-dev"]}
    for repository_name, images in names.items():
        repository = await metadata.repositories.create_repository(Repository(name=repository_name))
        assert repository.id is not None
        for image in images:
            await put(metadata, repository.id, image)
    empty = await metadata.repositories.create_repository(Repository(name="empty"))
    assert empty.id is not None
    await metadata.content.link_blob(
        empty.id, "only-blobs", Digest.of(b"x"), 1
    )  # no manifest: not in the catalog
    return byte_order([f"{repository}/{image}" for repository, images in names.items() for image in images])


async def test_catalog_lists_full_names_in_byte_order(metadata: Metadata, populated: list[str]) -> None:
    page = await metadata.content.catalog(None, None)
    assert page == Page(populated, False)
    # "a-b/x" sorts before "a/…" because "-" < "/", whatever the repository order.
    assert page.items[0] == "a-b/x"
    assert page.items.index("a/10/app") < page.items.index("a/9/app")


async def test_catalog_holds_each_image_once(metadata: Metadata) -> None:
    repository = await metadata.repositories.create_repository(Repository(name="hub"))
    assert repository.id is not None
    await put(metadata, repository.id, "app", "v1", "v2")
    other = ManifestRecord(Digest.of(b"second"), MediaType.OCI_MANIFEST, 1)
    await metadata.content.put_manifest(repository.id, "app", other, ManifestReferences())
    assert await metadata.content.catalog(None, None) == Page(["hub/app"], False)


async def test_catalog_paginates(metadata: Metadata, populated: list[str]) -> None:
    assert await metadata.content.catalog(0, None) == Page([], False)
    assert await metadata.content.catalog(2, None) == Page(populated[:2], True)
    assert await metadata.content.catalog(2, populated[1]) == Page(populated[2:4], True)
    assert await metadata.content.catalog(None, populated[-2]) == Page(populated[-1:], False)
    assert await metadata.content.catalog(1, populated[-2]) == Page(populated[-1:], False)
    assert await metadata.content.catalog(3, populated[-1]) == Page([], False)
    assert await metadata.content.catalog(3, "zzz") == Page([], False)
    assert await metadata.content.catalog(1, "a/") == Page(["a/10/app"], True)  # last between two names
    seen: list[str] = []
    last: str | None = None
    while True:
        page = await metadata.content.catalog(3, last)
        seen += page.items
        if not page.more:
            break
        last = page.items[-1]
    assert seen == populated


async def test_catalog_drops_images_whose_manifests_are_gone(metadata: Metadata) -> None:
    repository = await metadata.repositories.create_repository(Repository(name="hub"))
    assert repository.id is not None
    await put(metadata, repository.id, "app", "v1")
    assert await metadata.content.delete_manifest(repository.id, "app", Digest.of(b"app"))
    assert await metadata.content.catalog(None, None) == Page([], False)
