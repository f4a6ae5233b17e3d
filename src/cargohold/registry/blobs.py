"""Reading, mounting and deleting blobs of an image.

A blob is readable in an image only when it is linked there (it was pushed to that image, mounted into it,
or fetched for it); its bytes are stored once, by digest, whatever number of images link it. A stored file
whose size is not the size recorded when it was linked is damaged: it is never served.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from cargohold.errors import BlobDamagedError, BlobUnknownError
from cargohold.metadata.base import ContentStore
from cargohold.models import ContentSource, Digest
from cargohold.registry.addressing import ImageAddress
from cargohold.storage.base import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int
    path: Path | None
    """Where the bytes lie on local disk (for sendfile), when the store keeps them there."""
    proxy_name: str | None = None
    """The proxy it was fetched through, for cached content."""


class BlobService:
    def __init__(self, metadata: ContentStore, store: BlobStore) -> None:
        self._metadata = metadata
        self._store = store

    async def stat(self, address: ImageAddress, digest: Digest) -> BlobInfo:
        """The blob as the image sees it; BlobUnknownError when not linked there or gone from storage, and
        BlobDamagedError (logged) when its stored file is not the size recorded for it."""
        link = await self._metadata.get_blob_link(address.repository_id, address.image, digest)
        if link is None:
            raise BlobUnknownError(
                f"blob {digest} is unknown to {address.name}", detail={"digest": str(digest)}
            )
        stored = await self._store.stat(digest)
        if stored is None:
            raise BlobUnknownError(f"blob {digest} is missing from storage", detail={"digest": str(digest)})
        if stored != link.size:
            cached = link.source is ContentSource.CACHED
            log.error(
                "blob %s of %s is damaged: its stored file has %d bytes, %d were recorded; %s",
                digest,
                address.name,
                stored,
                link.size,
                "fetching it again" if cached else "it is not served",
            )
            raise BlobDamagedError(
                f"blob {digest} cannot be served: its stored file is damaged",
                recorded_size=link.size,
                stored_size=stored,
                cached=cached,
                proxy_name=link.proxy_name,
                detail={"digest": str(digest)},
            )
        return BlobInfo(digest, stored, self._store.local_path(digest), link.proxy_name)

    async def redirect_url(self, digest: Digest) -> str | None:
        """Where a client may fetch a stored blob itself (a presigned S3 URL), when the store redirects."""
        return await self._store.redirect_url(digest)

    def read(self, digest: Digest, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream a stored blob (or ``length`` bytes from ``offset``), for a store without local files."""
        return self._store.read(digest, offset, length)

    async def shared_size(self, address: ImageAddress, digest: Digest) -> int | None:
        """The size of the blob's stored bytes when the image's repository may serve them without fetching
        them itself: it links them in some image, or a public repository does. None otherwise (also when
        they are not stored): a blob's bytes are stored once, but readable only where they were put."""
        if not await self._metadata.blob_readable_through(address.repository_id, digest):
            return None
        return await self._store.stat(digest)

    async def link_cached(self, address: ImageAddress, digest: Digest, size: int, proxy_name: str) -> None:
        """Make a blob fetched through a proxy readable in the image it was fetched for."""
        await self._metadata.link_blob(
            address.repository_id, address.image, digest, size, ContentSource.CACHED, proxy_name
        )

    async def mount(self, target: ImageAddress, source: ImageAddress, digest: Digest) -> bool:
        """Link a blob readable in ``source`` into ``target``; False when ``source`` cannot read it."""
        size = await self._metadata.linked_blob_size(source.repository_id, source.image, digest)
        if size is None or await self._store.stat(digest) is None:
            return False
        await self._metadata.link_blob(target.repository_id, target.image, digest, size)
        return True

    async def delete(self, address: ImageAddress, digest: Digest) -> None:
        """Unlink a blob from an image; its bytes go when garbage collection finds them unused."""
        if not await self._metadata.unlink_blob(address.repository_id, address.image, digest):
            raise BlobUnknownError(
                f"blob {digest} is unknown to {address.name}", detail={"digest": str(digest)}
            )
