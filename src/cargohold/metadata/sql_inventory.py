"""What a repository holds, for the management views, in the SQL metadata store: every image with its
manifests, references, tags and blob links read in one transaction; deleting a whole image; purging the
content cached from the proxies: ``SqlInventoryStore``.

Purging removes cached tags, then the cached manifests nothing else still needs (a local tag or a
manifest that stays refers to it), then the cached blob links no remaining manifest references, so local
content is never broken by a purge. Blob bytes stay in the blob store for the garbage collector.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cargohold.metadata import rows
from cargohold.metadata.database import Database
from cargohold.metadata.schema import blob_links, manifest_references, manifests, tags
from cargohold.models import ContentSource, Digest, ImageContent, ManifestReferences

CACHED = ContentSource.CACHED.value


class SqlInventoryStore:
    """``InventoryStore`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def image_contents(self, repository_id: int, image: str | None = None) -> list[ImageContent]:
        where: dict[str, Any] = {"repository_id": repository_id}
        if image is not None:
            where["image"] = image
        async with self._database.read() as connection:
            found_manifests = await _rows(connection, manifests, where, manifests.c.digest)
            found_references = await _rows(
                connection, manifest_references, where, manifest_references.c.child_digest
            )
            found_tags = await _rows(connection, tags, where, tags.c.tag)
            found_links = await _rows(connection, blob_links, where, blob_links.c.digest)
        by_image: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for row in found_manifests:
            by_image[row.image]["manifests"].append(rows.manifest(row))
        references: dict[tuple[str, str], tuple[list[Digest], list[Digest]]] = {}
        for row in found_references:
            blobs, children = references.setdefault((row.image, row.manifest_digest), ([], []))
            (blobs if row.kind == "blob" else children).append(rows.digest(row.child_digest))
        for (name, digest), (blobs, children) in references.items():
            by_image[name]["references"].append(
                (rows.digest(digest), ManifestReferences(tuple(blobs), tuple(children)))
            )
        for row in found_tags:
            by_image[row.image]["tags"].append(rows.tag(row))
        for row in found_links:
            by_image[row.image]["blobs"].append(rows.blob_link(row))
        return [
            ImageContent(
                image=name,
                manifests=tuple(content["manifests"]),
                references=tuple(content["references"]),
                tags=tuple(content["tags"]),
                blobs=tuple(content["blobs"]),
            )
            for name, content in sorted(by_image.items())
            if content["manifests"]
        ]

    async def delete_image(self, repository_id: int, image: str) -> bool:
        async with self._database.write() as connection:
            # Tags and reference rows go with their manifests (ON DELETE CASCADE).
            gone = await connection.execute(
                delete(manifests).where(
                    manifests.c.repository_id == repository_id, manifests.c.image == image
                )
            )
            unlinked = await connection.execute(
                delete(blob_links).where(
                    blob_links.c.repository_id == repository_id, blob_links.c.image == image
                )
            )
        return gone.rowcount + unlinked.rowcount > 0

    async def purge_cached(self, repository_id: int, proxy_name: str | None = None) -> tuple[int, int, int]:
        def of_proxy(table: Any) -> list[Any]:
            conditions = [table.c.repository_id == repository_id, table.c.source == CACHED]
            if proxy_name is not None:
                conditions.append(table.c.proxy_name == proxy_name)
            return conditions

        async with self._database.write() as connection:
            tags_gone = (await connection.execute(delete(tags).where(*of_proxy(tags)))).rowcount
            every = (
                await connection.execute(
                    select(
                        manifests.c.image, manifests.c.digest, manifests.c.source, manifests.c.proxy_name
                    ).where(manifests.c.repository_id == repository_id)
                )
            ).all()
            doomed = {
                (row.image, row.digest)
                for row in every
                if row.source == CACHED and (proxy_name is None or row.proxy_name == proxy_name)
            }
            references = (
                await connection.execute(
                    select(
                        manifest_references.c.image,
                        manifest_references.c.manifest_digest,
                        manifest_references.c.kind,
                        manifest_references.c.child_digest,
                    ).where(manifest_references.c.repository_id == repository_id)
                )
            ).all()
            tagged = (
                await connection.execute(
                    select(tags.c.image, tags.c.digest).where(tags.c.repository_id == repository_id)
                )
            ).all()
            doomed -= {(row.image, row.digest) for row in tagged}
            doomed = _unneeded(doomed, references)
            for image, digest in sorted(doomed):
                await connection.execute(
                    delete(manifests).where(
                        manifests.c.repository_id == repository_id,
                        manifests.c.image == image,
                        manifests.c.digest == digest,
                    )
                )
            still_referenced = {
                (row.image, row.child_digest)
                for row in references
                if row.kind == "blob" and (row.image, row.manifest_digest) not in doomed
            }
            links = (
                await connection.execute(
                    select(blob_links.c.image, blob_links.c.digest).where(*of_proxy(blob_links))
                )
            ).all()
            unlinked = 0
            for row in links:
                if (row.image, row.digest) in still_referenced:
                    continue
                unlinked += (
                    await connection.execute(
                        delete(blob_links).where(
                            blob_links.c.repository_id == repository_id,
                            blob_links.c.image == row.image,
                            blob_links.c.digest == row.digest,
                        )
                    )
                ).rowcount
        return len(doomed), tags_gone, unlinked


async def _rows(connection: AsyncConnection, table: Any, where: dict[str, Any], order: Any) -> Sequence[Any]:
    query = select(table).where(*(table.c[name] == value for name, value in where.items()))
    return (await connection.execute(query.order_by(table.c.image, order))).all()


def _unneeded(candidates: set[tuple[str, str]], references: Sequence[Any]) -> set[tuple[str, str]]:
    """The candidates no manifest outside the set refers to (repeated until nothing changes)."""
    doomed = set(candidates)
    while True:
        needed = {
            (row.image, row.child_digest)
            for row in references
            if row.kind == "manifest" and (row.image, row.manifest_digest) not in doomed
        }
        kept = doomed & needed
        if not kept:
            return doomed
        doomed -= kept
