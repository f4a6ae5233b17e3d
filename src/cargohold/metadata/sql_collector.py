"""What garbage collection asks of the SQL metadata store: ``SqlCollectorStore``, and the per-digest guard
that ``SqlContentStore`` takes when it links a blob or records a manifest.

The guard: on PostgreSQL a transaction-scoped advisory lock per digest (keyed by the schema and the digest,
so stores in different schemas of one database never meet), taken *shared* by every transaction that adds a
reference (``link_blob``, ``put_manifest``) and *exclusive* by ``collect_blob``. Under READ COMMITTED the
reference check of ``collect_blob`` runs after it holds the lock, so it sees every link committed before,
and a link begun meanwhile waits until the removal is committed. On SQLite every write transaction opens with
``BEGIN IMMEDIATE``, which already serialises them all: no lock is needed there.

The collector lock is a session-level advisory lock on PostgreSQL, held on a connection of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from sqlalchemy import CompoundSelect, Connection, select, text, union

from cargohold.metadata import rows
from cargohold.metadata.database import Database
from cargohold.metadata.schema import blob_links, manifest_references, manifests, repositories, uploads
from cargohold.models import ContentSource, Digest, Holding, Upload

REFERENCE_BATCH: Final = 500
"""Digests per ``IN (…)`` list when asking which are referenced."""

_DIGEST_KEY: Final = "hashtextextended(current_schema() || '/cargohold-blob/' || :digest, 0)"
_SHARED_GUARD: Final = text(f"SELECT pg_advisory_xact_lock_shared({_DIGEST_KEY})")
_EXCLUSIVE_GUARD: Final = text(f"SELECT pg_advisory_xact_lock({_DIGEST_KEY})")
_COLLECTOR_KEY: Final = "hashtextextended(current_schema() || '/cargohold-gc', 0)"
_TRY_COLLECTOR_LOCK: Final = text(f"SELECT pg_try_advisory_lock({_COLLECTOR_KEY})")
_COLLECTOR_UNLOCK: Final = text(f"SELECT pg_advisory_unlock({_COLLECTOR_KEY})")


def guard_shared(database: Database, connection: Connection, digests: Iterable[str]) -> None:
    """Take the guard of each digest shared for the rest of this (synchronous) transaction, before it adds
    references to them; a no-op on SQLite (see the module docstring)."""
    if not database.postgres:
        return
    for digest in dict.fromkeys(digests):
        connection.execute(_SHARED_GUARD, {"digest": digest})


class SqlCollectorStore:
    """``CollectorStore`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def collector_lock(self) -> AsyncIterator[bool]:
        if not self._database.postgres:
            yield True
            return
        async with self._database.engine.connect() as connection:
            acquired = bool(await connection.scalar(_TRY_COLLECTOR_LOCK))
            await connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    await connection.execute(_COLLECTOR_UNLOCK)
                    await connection.commit()

    async def referenced(self, digests: Sequence[Digest]) -> set[Digest]:
        found: set[Digest] = set()
        texts = list(dict.fromkeys(str(digest) for digest in digests))
        async with self._database.read() as connection:
            for start in range(0, len(texts), REFERENCE_BATCH):
                query = _referenced_among(texts[start : start + REFERENCE_BATCH])
                found.update(Digest.parse(value) for value in (await connection.scalars(query)).all())
        return found

    async def collect_blob(self, digest: Digest, remove: Callable[[], Awaitable[int | None]]) -> int | None:
        async def remove_it(_: Digest) -> int | None:
            return await remove()

        return (await self.collect_blobs([digest], remove_it)).get(digest)

    async def collect_blobs(
        self, digests: Sequence[Digest], remove: Callable[[Digest], Awaitable[int | None]]
    ) -> dict[Digest, int]:
        texts = sorted({str(digest) for digest in digests})
        freed: dict[Digest, int] = {}
        if not texts:
            return freed
        async with self._database.write() as connection:
            if self._database.postgres:
                for digest in texts:
                    await connection.execute(_EXCLUSIVE_GUARD, {"digest": digest})
            still_referenced = set((await connection.scalars(_referenced_among(texts))).all())
            for digest in texts:
                if digest in still_referenced:
                    continue
                size = await remove(Digest.parse(digest))
                if size is not None:
                    freed[Digest.parse(digest)] = size
        return freed

    async def list_uploads(self) -> list[Upload]:
        async with self._database.read() as connection:
            result = await connection.execute(select(uploads).order_by(uploads.c.created_at, uploads.c.id))
            return [rows.upload(row) for row in result]

    async def held_digests(self) -> set[Digest]:
        query = union(select(blob_links.c.digest.label("digest")), select(manifests.c.digest.label("digest")))
        async with self._database.read() as connection:
            return {Digest.parse(value) for value in (await connection.scalars(query)).all()}

    async def holdings(self, digests: Sequence[Digest]) -> list[Holding]:
        texts = list(dict.fromkeys(str(digest) for digest in digests))
        found: list[Holding] = []
        async with self._database.read() as connection:
            for start in range(0, len(texts), REFERENCE_BATCH):
                batch = texts[start : start + REFERENCE_BATCH]
                for kind, table in (("blob", blob_links), ("manifest", manifests)):
                    query = (
                        select(table, repositories.c.name.label("repository_name"))
                        .join(repositories, repositories.c.id == table.c.repository_id)
                        .where(table.c.digest.in_(batch))
                        .order_by(repositories.c.name, table.c.image)
                    )
                    for row in await connection.execute(query):
                        found.append(
                            Holding(
                                digest=Digest.parse(row.digest),
                                repository_id=row.repository_id,
                                repository=row.repository_name,
                                image=row.image,
                                kind=kind,
                                size=row.size,
                                source=ContentSource(row.source),
                                proxy_name=row.proxy_name,
                            )
                        )
        return found


def _referenced_among(digests: Sequence[str]) -> CompoundSelect[Any]:
    """The digests among ``digests`` that a blob link, a manifest or a manifest reference names."""
    return union(
        select(blob_links.c.digest.label("digest")).where(blob_links.c.digest.in_(digests)),
        select(manifests.c.digest.label("digest")).where(manifests.c.digest.in_(digests)),
        select(manifest_references.c.child_digest.label("digest")).where(
            manifest_references.c.child_digest.in_(digests)
        ),
    )
