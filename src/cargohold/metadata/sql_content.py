"""The content of images in the SQL metadata store: ``SqlContentStore``.

Blob links (which committed blob is readable in which image, local or cached through which proxy),
manifests with what they reference, tags, referrers, the catalog and upload sessions. Every method is one
transaction; the point lookups of every pull (a blob link, a manifest, a tag) are prebuilt statements run
with ``Database.first`` (inline on SQLite), and a manifest with its references and tag is written in one
``Database.transaction``. Adding a reference to a digest (a blob link, a manifest) takes the digest's guard
shared (``sql_collector.guard_shared``), so garbage collection never removes bytes being linked. Text that is
listed in order (repository and image names, tags) is compared
byte by byte on both backends (see ``schema.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from cargohold.errors import BlobUploadUnknownError, NameUnknownError, TooManyRequestsError
from cargohold.metadata import rows
from cargohold.metadata.database import Database
from cargohold.metadata.schema import blob_links, manifest_references, manifests, repositories, tags, uploads
from cargohold.metadata.sql_collector import guard_shared
from cargohold.models import (
    BlobLink,
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    Page,
    TagRecord,
    Upload,
    UploadLimits,
    Visibility,
)


class SqlContentStore:
    """``ContentStore`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

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
            self._database.insert(blob_links)
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

        def write(connection: Connection) -> None:
            guard_shared(self._database, connection, (str(digest),))  # against a collection of it
            _add_to_repository(connection, repository_id, statement)

        await self._database.transaction(write)

    async def linked_blob_size(self, repository_id: int, image: str, digest: Digest) -> int | None:
        row = await self._database.first(
            select(blob_links.c.size).where(*_blob_key(repository_id, image, digest))
        )
        return None if row is None else int(row.size)

    async def get_blob_link(self, repository_id: int, image: str, digest: Digest) -> BlobLink | None:
        row = await self._database.first(_BLOB_LINK, _key(repository_id, image, str(digest)))
        return None if row is None else rows.blob_link(row)

    async def unlink_blob(self, repository_id: int, image: str, digest: Digest) -> bool:
        async with self._database.write() as connection:
            result = await connection.execute(
                delete(blob_links).where(*_blob_key(repository_id, image, digest))
            )
        return result.rowcount > 0

    async def blob_readable_through(self, repository_id: int, digest: Digest) -> bool:
        row = await self._database.first(
            _BLOB_READABLE, {"repository_id": repository_id, "digest": str(digest)}
        )
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
            self._database.insert(manifests)
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
                self._database.insert(tags)
                .values(repository_id=repository_id, image=image, tag=tag, **moved)
                .on_conflict_do_update(index_elements=["repository_id", "image", "tag"], set_=moved)
            )

        def write(connection: Connection) -> None:
            guard_shared(self._database, connection, [digest, *(child for _, child in children)])
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

        await self._database.transaction(write)

    async def get_manifest(self, repository_id: int, image: str, digest: Digest) -> ManifestRecord | None:
        row = await self._database.first(_MANIFEST, _key(repository_id, image, str(digest)))
        return None if row is None else rows.manifest(row)

    async def get_tag(self, repository_id: int, image: str, tag: str) -> TagRecord | None:
        row = await self._database.first(_TAG, _key(repository_id, image, tag))
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
        row = await self._database.first(query)
        return None if row is None else rows.manifest(row)

    async def delete_manifest(self, repository_id: int, image: str, digest: Digest) -> bool:
        # Its tags and reference rows go with it (ON DELETE CASCADE).
        async with self._database.write() as connection:
            result = await connection.execute(
                delete(manifests).where(*_manifest_key(repository_id, image, digest))
            )
        return result.rowcount > 0

    async def delete_tag(self, repository_id: int, image: str, tag: str) -> bool:
        async with self._database.write() as connection:
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
        async with self._database.read() as connection:
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
        async with self._database.read() as connection:
            result = await connection.execute(query)
            return [rows.manifest(row) for row in result]

    # --- uploads -------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload, limits: UploadLimits | None = None) -> None:
        created_at = upload.created_at or rows.now()
        statement = uploads.insert().values(
            id=upload.id,
            repository_id=upload.repository_id,
            image=upload.image,
            offset=upload.offset,
            owner=upload.owner,
            created_at=created_at,
            updated_at=upload.updated_at or created_at,
        )
        repository_id = upload.repository_id

        def write(connection: Connection) -> None:
            if limits is not None:
                _check_upload_limits(connection, repository_id, upload.owner, limits)
            _add_to_repository(connection, repository_id, statement)

        await self._database.transaction(write)

    async def get_upload(self, upload_id: str) -> Upload | None:
        row = await self._database.first(select(uploads).where(uploads.c.id == upload_id))
        return None if row is None else rows.upload(row)

    async def set_upload_offset(self, upload_id: str, offset: int) -> None:
        """Raises BlobUploadUnknownError when no such upload exists."""
        async with self._database.write() as connection:
            result = await connection.execute(
                update(uploads).where(uploads.c.id == upload_id).values(offset=offset, updated_at=rows.now())
            )
        if result.rowcount == 0:
            raise BlobUploadUnknownError(f"upload {upload_id[:80]!r} unknown")

    async def delete_upload(self, upload_id: str) -> None:
        async with self._database.write() as connection:
            await connection.execute(delete(uploads).where(uploads.c.id == upload_id))

    # --- helpers -------------------------------------------------------------------------------

    async def _page(self, query: Any, n: int | None) -> Page:
        """Run an ordered one-column ``query`` for a page of at most ``n`` items (all when None)."""
        if n is not None:
            query = query.limit(n + 1)
        async with self._database.read() as connection:
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


def _check_upload_limits(
    connection: Connection, repository_id: int, owner: str | None, limits: UploadLimits
) -> None:
    """TooManyRequestsError when a cap of ``limits`` is reached. The repository's row is locked first (on
    PostgreSQL; SQLite's write lock serialises everything), so concurrent starts in it cannot both pass."""
    connection.execute(select(repositories.c.id).where(repositories.c.id == repository_id).with_for_update())
    live = func.coalesce(uploads.c.updated_at, uploads.c.created_at) >= limits.active_since
    count = select(func.count()).select_from(uploads).where(live)
    if limits.per_repository > 0:
        held = connection.scalar(count.where(uploads.c.repository_id == repository_id)) or 0
        if held >= limits.per_repository:
            raise TooManyRequestsError(
                f"this repository has {held} upload sessions open, its limit: finish or cancel one first"
            )
    if limits.per_owner > 0 and owner is not None:
        held = connection.scalar(count.where(uploads.c.owner == owner)) or 0
        if held >= limits.per_owner:
            raise TooManyRequestsError(
                f"you have {held} upload sessions open, the limit per user: finish or cancel one first"
            )


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
