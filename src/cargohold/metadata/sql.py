"""The SQL implementation of ``MetadataStore``: SQLAlchemy 2 Core on an async engine, the same code for
SQLite (aiosqlite) and PostgreSQL (asyncpg).

``open_metadata_store(url)`` builds the engine (``engine.py``), migrates the database to head
(``migrate.py``) and returns a ready ``SqlMetadataStore``. Every public method runs in one transaction;
writing methods open theirs for writing (``BEGIN IMMEDIATE`` on SQLite). Text that is listed in order
(repository and image names, tags) is compared byte by byte on both backends (see ``schema.py``).
Repository and proxy settings live in ``sql_repositories.py``, their management changes in
``sql_management.py``, the inventory views and purges in ``sql_inventory.py``, usage counters in
``sql_stats.py``, users with their grants and access tokens in ``sql_users.py``; this module holds the
content of images.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, literal, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cargohold.errors import BlobUploadUnknownError, ConfigError, NameUnknownError
from cargohold.metadata import rows
from cargohold.metadata.engine import async_url, create_engine, redact
from cargohold.metadata.migrate import upgrade_to_head
from cargohold.metadata.schema import blob_links, manifest_references, manifests, repositories, tags, uploads
from cargohold.metadata.sealing import SecretCipher
from cargohold.metadata.sql_inventory import SqlInventoryStore
from cargohold.metadata.sql_management import SqlManagementStore
from cargohold.metadata.sql_stats import SqlStatsStore
from cargohold.metadata.sql_users import SqlUserStore
from cargohold.models import (
    BlobLink,
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    Page,
    TagRecord,
    Upload,
    Visibility,
)

__all__ = ["SqlMetadataStore", "open_metadata_store"]


async def open_metadata_store(
    url: str, *, schema: str | None = None, secrets: SecretCipher | None = None
) -> SqlMetadataStore:
    """Open the database at ``url`` (``sqlite:///PATH`` or ``postgresql://…``), migrated to head.

    The directory of a SQLite file is created when missing. ``schema`` (PostgreSQL only) puts every
    table in that schema, created when missing. With ``secrets`` (a ``cargohold.auth.secrets.SecretBox``)
    proxy passwords are encrypted at rest, and those left in plaintext by older versions are encrypted
    now. Raises ConfigError when the URL is unusable, the database cannot be reached, or the stored
    passwords do not decrypt with the key of ``secrets``.
    """
    engine_url = async_url(url)
    engine = create_engine(engine_url, schema=schema)
    store = SqlMetadataStore(engine, secrets)
    try:
        await upgrade_to_head(engine, schema=schema)
        await store.seal_stored_passwords()
    except (DBAPIError, OSError) as exc:
        await engine.dispose()
        raise ConfigError(f"cannot open the metadata database {redact(url)}: {exc}") from exc
    except BaseException:
        await engine.dispose()
        raise
    return store


class SqlMetadataStore(SqlManagementStore, SqlInventoryStore, SqlStatsStore, SqlUserStore):
    """``MetadataStore`` on a SQLAlchemy async engine; construct it with ``open_metadata_store``."""

    def __init__(self, engine: AsyncEngine, secrets: SecretCipher | None = None) -> None:
        super().__init__(engine, secrets)

    async def close(self) -> None:
        self._close_inline()
        await self._engine.dispose()

    # --- blobs -------------------------------------------------------------------------------------

    async def link_blob(
        self,
        repository_id: int,
        image: str,
        digest: Digest,
        size: int,
        source: ContentSource = ContentSource.LOCAL,
        proxy_name: str | None = None,
    ) -> None:
        statement = (
            self._insert(blob_links)
            .values(
                repository_id=repository_id,
                image=image,
                digest=str(digest),
                size=size,
                source=ContentSource(source).value,
                proxy_name=proxy_name,
                created_at=rows.now(),
            )
            .on_conflict_do_nothing(index_elements=["repository_id", "image", "digest"])
        )

        await self._transaction(lambda connection: _add_to_repository(connection, repository_id, statement))

    async def linked_blob_size(self, repository_id: int, image: str, digest: Digest) -> int | None:
        row = await self._first(select(blob_links.c.size).where(*_blob_key(repository_id, image, digest)))
        return None if row is None else int(row.size)

    async def get_blob_link(self, repository_id: int, image: str, digest: Digest) -> BlobLink | None:
        row = await self._first(_BLOB_LINK, _key(repository_id, image, str(digest)))
        return None if row is None else rows.blob_link(row)

    async def unlink_blob(self, repository_id: int, image: str, digest: Digest) -> bool:
        async with self._write() as connection:
            result = await connection.execute(
                delete(blob_links).where(*_blob_key(repository_id, image, digest))
            )
        return result.rowcount > 0

    async def blob_readable_through(self, repository_id: int, digest: Digest) -> bool:
        row = await self._first(_BLOB_READABLE, {"repository_id": repository_id, "digest": str(digest)})
        return row is not None

    # --- manifests and tags ---------------------------------------------------------------------

    async def put_manifest(
        self,
        repository_id: int,
        image: str,
        record: ManifestRecord,
        references: ManifestReferences,
        tag: str | None = None,
    ) -> None:
        digest = str(record.digest)
        now = rows.now()
        source = ContentSource(record.source).value
        insert_manifest = (
            self._insert(manifests)
            .values(
                repository_id=repository_id,
                image=image,
                digest=digest,
                media_type=record.media_type,
                size=record.size,
                artifact_type=record.artifact_type,
                subject=None if record.subject is None else str(record.subject),
                annotations=None if record.annotations is None else dict(record.annotations),
                source=source,
                proxy_name=record.proxy_name,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["repository_id", "image", "digest"])
            .returning(manifests.c.digest)
        )
        children = dict.fromkeys(
            [("blob", str(d)) for d in references.blobs]
            + [("manifest", str(d)) for d in references.manifests]
        )
        upsert_tag = None
        if tag is not None:
            moved = {"digest": digest, "source": source, "proxy_name": record.proxy_name, "updated_at": now}
            upsert_tag = (
                self._insert(tags)
                .values(repository_id=repository_id, image=image, tag=tag, **moved)
                .on_conflict_do_update(index_elements=["repository_id", "image", "tag"], set_=moved)
            )

        def write(connection: Connection) -> None:
            inserted = _add_to_repository(connection, repository_id, insert_manifest).first() is not None
            if inserted and children:  # new here: record what it references
                connection.execute(
                    manifest_references.insert(),
                    [
                        {
                            "repository_id": repository_id,
                            "image": image,
                            "manifest_digest": digest,
                            "kind": kind,
                            "child_digest": child,
                        }
                        for kind, child in children
                    ],
                )
            if upsert_tag is not None:
                connection.execute(upsert_tag)

        await self._transaction(write)

    async def get_manifest(self, repository_id: int, image: str, digest: Digest) -> ManifestRecord | None:
        row = await self._first(_MANIFEST, _key(repository_id, image, str(digest)))
        return None if row is None else rows.manifest(row)

    async def get_tag(self, repository_id: int, image: str, tag: str) -> TagRecord | None:
        row = await self._first(_TAG, _key(repository_id, image, tag))
        return None if row is None else rows.tag(row)

    async def manifest_referencing(
        self, repository_id: int, image: str, child: Digest
    ) -> ManifestRecord | None:
        query = (
            select(manifests)
            .join(
                manifest_references,
                (manifest_references.c.repository_id == manifests.c.repository_id)
                & (manifest_references.c.image == manifests.c.image)
                & (manifest_references.c.manifest_digest == manifests.c.digest),
            )
            .where(
                manifest_references.c.repository_id == repository_id,
                manifest_references.c.image == image,
                manifest_references.c.child_digest == str(child),
            )
            .order_by(
                (manifests.c.source == ContentSource.CACHED.value).desc(), manifests.c.created_at.desc()
            )
            .limit(1)
        )
        row = await self._first(query)
        return None if row is None else rows.manifest(row)

    async def delete_manifest(self, repository_id: int, image: str, digest: Digest) -> bool:
        # Its tags and reference rows go with it (ON DELETE CASCADE).
        async with self._write() as connection:
            result = await connection.execute(
                delete(manifests).where(*_manifest_key(repository_id, image, digest))
            )
        return result.rowcount > 0

    async def delete_tag(self, repository_id: int, image: str, tag: str) -> bool:
        async with self._write() as connection:
            result = await connection.execute(delete(tags).where(*_tag_key(repository_id, image, tag)))
        return result.rowcount > 0

    async def list_tags(self, repository_id: int, image: str, n: int | None, last: str | None) -> Page:
        if n is not None and n <= 0:
            return Page()
        query = (
            select(tags.c.tag)
            .where(tags.c.repository_id == repository_id, tags.c.image == image)
            .order_by(tags.c.tag)
        )
        if last is not None:
            query = query.where(tags.c.tag > last)
        return await self._page(query, n)

    async def image_exists(self, repository_id: int, image: str) -> bool:
        # A tag always points at a manifest of the same image, so manifests and links cover tags.
        query = select(
            or_(
                exists().where(manifests.c.repository_id == repository_id, manifests.c.image == image),
                exists().where(blob_links.c.repository_id == repository_id, blob_links.c.image == image),
            )
        )
        async with self._read() as connection:
            return bool(await connection.scalar(query))

    async def catalog(self, n: int | None, last: str | None) -> Page:
        if n is not None and n <= 0:
            return Page()
        # Both operands are byte-ordered (collation "C" on PostgreSQL), and so is their concatenation.
        full_name = (repositories.c.name + literal("/") + manifests.c.image).label("full_name")
        names = (
            select(full_name)
            .select_from(manifests.join(repositories, repositories.c.id == manifests.c.repository_id))
            .distinct()
            .subquery()
        )
        query = select(names.c.full_name).order_by(names.c.full_name)
        if last is not None:
            query = query.where(names.c.full_name > last)
        return await self._page(query, n)

    async def list_referrers(
        self, repository_id: int, image: str, subject: Digest, artifact_type: str | None = None
    ) -> list[ManifestRecord]:
        query = (
            select(manifests)
            .where(
                manifests.c.repository_id == repository_id,
                manifests.c.image == image,
                manifests.c.subject == str(subject),
            )
            .order_by(manifests.c.digest)
        )
        if artifact_type is not None:
            query = query.where(manifests.c.artifact_type == artifact_type)
        async with self._read() as connection:
            result = await connection.execute(query)
            return [rows.manifest(row) for row in result]

    # --- uploads -------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        statement = uploads.insert().values(
            id=upload.id,
            repository_id=upload.repository_id,
            image=upload.image,
            offset=upload.offset,
            owner=upload.owner,
            created_at=upload.created_at or rows.now(),
        )
        repository_id = upload.repository_id
        await self._transaction(lambda connection: _add_to_repository(connection, repository_id, statement))

    async def get_upload(self, upload_id: str) -> Upload | None:
        row = await self._first(select(uploads).where(uploads.c.id == upload_id))
        return None if row is None else rows.upload(row)

    async def set_upload_offset(self, upload_id: str, offset: int) -> None:
        """Raises BlobUploadUnknownError when no such upload exists."""
        async with self._write() as connection:
            result = await connection.execute(
                update(uploads).where(uploads.c.id == upload_id).values(offset=offset)
            )
        if result.rowcount == 0:
            raise BlobUploadUnknownError(f"upload {upload_id[:80]!r} unknown")

    async def delete_upload(self, upload_id: str) -> None:
        async with self._write() as connection:
            await connection.execute(delete(uploads).where(uploads.c.id == upload_id))

    # --- helpers -------------------------------------------------------------------------------

    async def _page(self, query: Any, n: int | None) -> Page:
        """Run an ordered one-column ``query`` for a page of at most ``n`` items (all when None)."""
        if n is not None:
            query = query.limit(n + 1)
        async with self._read() as connection:
            items = list((await connection.scalars(query)).all())
        if n is not None and len(items) > n:
            return Page(items=items[:n], more=True)
        return Page(items=items, more=False)


# The lookups of every pull, built once: composing a statement costs more than running it inline on SQLite.
_BLOB_LINK = select(blob_links).where(
    blob_links.c.repository_id == bindparam("repository_id"),
    blob_links.c.image == bindparam("image"),
    blob_links.c.digest == bindparam("key"),
)
_BLOB_READABLE = (
    select(blob_links.c.repository_id)
    .select_from(blob_links.join(repositories, repositories.c.id == blob_links.c.repository_id))
    .where(
        blob_links.c.digest == bindparam("digest"),
        or_(
            blob_links.c.repository_id == bindparam("repository_id"),
            repositories.c.visibility == Visibility.PUBLIC.value,
        ),
    )
    .limit(1)
)
_MANIFEST = select(manifests).where(
    manifests.c.repository_id == bindparam("repository_id"),
    manifests.c.image == bindparam("image"),
    manifests.c.digest == bindparam("key"),
)
_TAG = select(tags).where(
    tags.c.repository_id == bindparam("repository_id"),
    tags.c.image == bindparam("image"),
    tags.c.tag == bindparam("key"),
)


def _key(repository_id: int, image: str, key: str) -> dict[str, Any]:
    """Parameters of the prebuilt lookups above."""
    return {"repository_id": repository_id, "image": image, "key": key}


def _add_to_repository(connection: Connection, repository_id: int, statement: Any) -> Any:
    """Execute a statement that adds rows to a repository; NameUnknownError when it does not exist."""
    try:
        return connection.execute(statement)
    except IntegrityError as exc:
        raise NameUnknownError(f"no repository with id {repository_id}") from exc


def _blob_key(repository_id: int, image: str, digest: Digest) -> tuple[Any, ...]:
    return (
        blob_links.c.repository_id == repository_id,
        blob_links.c.image == image,
        blob_links.c.digest == str(digest),
    )


def _manifest_key(repository_id: int, image: str, digest: Digest) -> tuple[Any, ...]:
    return (
        manifests.c.repository_id == repository_id,
        manifests.c.image == image,
        manifests.c.digest == str(digest),
    )


def _tag_key(repository_id: int, image: str, tag: str) -> tuple[Any, ...]:
    return (tags.c.repository_id == repository_id, tags.c.image == image, tags.c.tag == tag)
