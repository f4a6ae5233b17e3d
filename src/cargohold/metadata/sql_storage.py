"""Storage accounting and eviction in the SQL metadata store: ``SqlStorageStore``.

Accounting is two aggregate queries over what the repositories hold (blob links and manifests, with the
sizes recorded for them): per repository each digest once (local when any local link or manifest of the
repository names it, else cached), and for the whole store each digest once. Eviction of one cached image
version is one write transaction that re-checks, under the write lock, that the version may still go. The
evictor's lock between servers is a PostgreSQL session advisory lock, as the collector's
(``sql_collector``), under a key of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, delete, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from cargohold.metadata.database import Database
from cargohold.metadata.schema import blob_links, manifest_references, manifests, tags
from cargohold.models import ContentSource, Digest, RepositoryUsage, StoreUsage

_EVICTOR_KEY: Final = "hashtextextended(current_schema() || '/cargohold-evict', 0)"
_TRY_EVICTOR_LOCK: Final = text(f"SELECT pg_try_advisory_lock({_EVICTOR_KEY})")
_EVICTOR_UNLOCK: Final = text(f"SELECT pg_advisory_unlock({_EVICTOR_KEY})")
LOCAL = ContentSource.LOCAL.value
CACHED = ContentSource.CACHED.value


def _held() -> Any:
    """Every (repository, digest, size, source) a blob link or a manifest records."""
    return union_all(
        select(blob_links.c.repository_id, blob_links.c.digest, blob_links.c.size, blob_links.c.source),
        select(manifests.c.repository_id, manifests.c.digest, manifests.c.size, manifests.c.source),
    ).subquery("held")


class SqlStorageStore:
    """``StorageStore`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def eviction_lock(self) -> AsyncIterator[bool]:
        if not self._database.postgres:
            yield True
            return
        async with self._database.engine.connect() as connection:
            acquired = bool(await connection.scalar(_TRY_EVICTOR_LOCK))
            await connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    await connection.execute(_EVICTOR_UNLOCK)
                    await connection.commit()

    async def storage_usage(self) -> StoreUsage:
        held = _held()
        # 'local' sorts after 'cached': the max of a digest's sources is local when any of them is.
        per_digest = (
            select(
                held.c.repository_id,
                held.c.digest,
                func.max(held.c.size).label("size"),
                func.max(held.c.source).label("source"),
            )
            .group_by(held.c.repository_id, held.c.digest)
            .subquery("per_digest")
        )
        per_repository = select(
            per_digest.c.repository_id, per_digest.c.source, func.sum(per_digest.c.size).label("bytes")
        ).group_by(per_digest.c.repository_id, per_digest.c.source)
        store_digests = (
            select(held.c.digest, func.max(held.c.size).label("size")).group_by(held.c.digest).subquery("d")
        )
        total_query = select(func.coalesce(func.sum(store_digests.c.size), 0))
        found: dict[int, dict[str, int]] = {}
        async with self._database.read() as connection:
            for row in await connection.execute(per_repository):
                found.setdefault(row.repository_id, {})[row.source] = int(row.bytes or 0)
            total = int(await connection.scalar(total_query) or 0)
        return StoreUsage(
            repositories={
                repository_id: RepositoryUsage(
                    repository_id, local_bytes=sources.get(LOCAL, 0), cached_bytes=sources.get(CACHED, 0)
                )
                for repository_id, sources in found.items()
            },
            total_bytes=total,
        )

    async def evict_version(
        self, repository_id: int, image: str, digest: Digest, pulled_at: datetime | None
    ) -> bool:
        where = (manifests.c.repository_id == repository_id, manifests.c.image == image)
        async with self._database.write() as connection:
            record = (
                await connection.execute(
                    select(manifests.c.source, manifests.c.last_pulled_at).where(
                        *where, manifests.c.digest == str(digest)
                    )
                )
            ).first()
            if record is None or record.source != CACHED:
                return False
            if record.last_pulled_at is not None and (pulled_at is None or record.last_pulled_at > pulled_at):
                return False
            references = (
                await connection.execute(
                    select(
                        manifest_references.c.manifest_digest,
                        manifest_references.c.kind,
                        manifest_references.c.child_digest,
                    ).where(
                        manifest_references.c.repository_id == repository_id,
                        manifest_references.c.image == image,
                    )
                )
            ).all()
            if any(row.kind == "manifest" and row.child_digest == str(digest) for row in references):
                return False
            image_tags = (
                await connection.execute(
                    select(tags.c.tag, tags.c.digest, tags.c.source).where(
                        tags.c.repository_id == repository_id, tags.c.image == image
                    )
                )
            ).all()
            if any(row.digest == str(digest) and row.source != CACHED for row in image_tags):
                return False
            every = (
                await connection.execute(select(manifests.c.digest, manifests.c.source).where(*where))
            ).all()
            doomed = _version(str(digest), every, references, {row.digest for row in image_tags})
            await connection.execute(
                delete(manifests).where(*where, manifests.c.digest.in_(sorted(doomed)))
            )  # their tags and reference rows go with them (ON DELETE CASCADE)
            await _unlink_unreferenced(connection, repository_id, image)
        return True


def _version(root: str, every: Any, references: Any, tagged: set[str]) -> set[str]:
    """The manifests of the version ``root``: itself and the cached, untagged children (transitively) that
    no manifest outside the version refers to."""
    cached = {row.digest for row in every if row.source == CACHED}
    children: dict[str, set[str]] = {}
    parents: dict[str, set[str]] = {}
    for row in references:
        if row.kind == "manifest":
            children.setdefault(row.manifest_digest, set()).add(row.child_digest)
            parents.setdefault(row.child_digest, set()).add(row.manifest_digest)
    version = {root}
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in version and child in cached and child not in tagged:
                version.add(child)
                pending.append(child)
    while True:  # a child another manifest (outside the version) still needs stays
        needed = {digest for digest in version - {root} if parents.get(digest, set()) - version}
        if not needed:
            return version
        version -= needed


async def _unlink_unreferenced(connection: AsyncConnection, repository_id: int, image: str) -> None:
    """Remove the image's cached blob links that no remaining manifest of the image references."""
    referenced = select(manifest_references.c.child_digest).where(
        manifest_references.c.repository_id == repository_id,
        manifest_references.c.image == image,
        manifest_references.c.kind == "blob",
    )
    await connection.execute(
        delete(blob_links).where(
            and_(
                blob_links.c.repository_id == repository_id,
                blob_links.c.image == image,
                blob_links.c.source == CACHED,
                blob_links.c.digest.not_in(referenced),
            )
        )
    )
