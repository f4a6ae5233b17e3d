"""``GuardedContentStore``: the ``ContentStore`` the services write through, which makes sure no link or
manifest it adds names bytes that a garbage collection removed meanwhile (see ``cargohold.registry.gc``).

A writer finds bytes stored, then links them; a collection may remove an unreferenced file between the two.
The metadata store guards each digest, so a link committed before a collection's final check keeps the file,
and one committed after it finds the file gone. This store therefore looks at the file once the link (or
the manifest) is committed: when it is gone, the reference this call added is taken back and the call
fails as unavailable (503), which clients retry; the retry brings the bytes again. A reference that existed
before the call is left as it was. Everything else passes straight through to the wrapped store.
"""

from __future__ import annotations

import logging

from cargohold.errors import UnavailableError
from cargohold.metadata.base import ContentStore
from cargohold.models import ContentSource, Digest, ManifestRecord, ManifestReferences
from cargohold.storage.base import BlobStore

log = logging.getLogger(__name__)


class GuardedContentStore:
    """``ContentStore`` over another one and the blob store that holds the bytes its records name."""

    def __init__(self, inner: ContentStore, store: BlobStore) -> None:
        self._inner = inner
        self._store = store
        # Reads and the writes that add no reference to stored bytes go straight through.
        self.linked_blob_size = inner.linked_blob_size
        self.get_blob_link = inner.get_blob_link
        self.unlink_blob = inner.unlink_blob
        self.blob_readable_through = inner.blob_readable_through
        self.get_manifest = inner.get_manifest
        self.get_tag = inner.get_tag
        self.manifest_referencing = inner.manifest_referencing
        self.delete_manifest = inner.delete_manifest
        self.delete_tag = inner.delete_tag
        self.list_tags = inner.list_tags
        self.image_exists = inner.image_exists
        self.catalog = inner.catalog
        self.list_referrers = inner.list_referrers
        self.create_upload = inner.create_upload
        self.get_upload = inner.get_upload
        self.set_upload_offset = inner.set_upload_offset
        self.delete_upload = inner.delete_upload

    async def link_blob(
        self,
        repository_id: int,
        image: str,
        digest: Digest,
        size: int,
        source: ContentSource = ContentSource.LOCAL,
        proxy_name: str | None = None,
    ) -> None:
        existed = await self._inner.linked_blob_size(repository_id, image, digest) is not None
        await self._inner.link_blob(repository_id, image, digest, size, source, proxy_name)
        if existed or await self._store.stat(digest) is not None:
            return
        await self._inner.unlink_blob(repository_id, image, digest)
        raise _collected(digest)

    async def put_manifest(
        self,
        repository_id: int,
        image: str,
        record: ManifestRecord,
        references: ManifestReferences,
        tag: str | None = None,
    ) -> None:
        existed = await self._inner.get_manifest(repository_id, image, record.digest) is not None
        await self._inner.put_manifest(repository_id, image, record, references, tag)
        if existed or await self._store.stat(record.digest) is not None:
            return
        await self._inner.delete_manifest(repository_id, image, record.digest)
        raise _collected(record.digest)


def _collected(digest: Digest) -> UnavailableError:
    log.warning(
        "blob %s was garbage-collected while it was being linked; the client is asked to retry", digest
    )
    return UnavailableError(
        f"blob {digest} was removed by garbage collection meanwhile; try again",
        detail={"digest": str(digest)},
    )
