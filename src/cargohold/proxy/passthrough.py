"""Serving a blob straight through from the upstream without caching it, when the disk has no room for it
(docs/storage.md, "Disk pressure"): ``DirectBlob``.

The body goes to the one client as it arrives, hashed on the way, and its last chunk is held back until the
whole body had its announced length and matched the digest: a client never receives a whole body that did
not verify (a bad one ends in a dropped connection, as a bad cached download does). Nothing is written to
disk and nothing is shared between clients: each such pull asks the upstream itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from cargohold.errors import CargoholdError, UpstreamFailedError
from cargohold.models import Digest
from cargohold.proxy.sources import BlobSource, verified_chunks

__all__ = ["DirectBlob", "NoRoomToCacheError"]

log = logging.getLogger(__name__)


class NoRoomToCacheError(CargoholdError):
    """The disk has no room to cache this blob, even after eviction: serve it through uncached."""


class DirectBlob:
    """One upstream body for one client, verified on the way and never stored."""

    def __init__(self, digest: Digest, proxy_name: str, source: BlobSource) -> None:
        self.digest = digest
        self.proxy_name = proxy_name
        self.size = source.size
        self._source = source
        self._iterator: AsyncIterator[bytes] | None = None

    def parts(self) -> AsyncIterator[bytes]:
        """The body (call once). Raises UpstreamFailedError, before the last chunk, for a bad body."""
        if self._iterator is None:
            self._iterator = self._held_back()
        return self._iterator

    async def aclose(self) -> None:
        await self._source.close()

    async def _held_back(self) -> AsyncIterator[bytes]:
        pending: bytes | None = None
        try:
            async for chunk in verified_chunks(self._source, self.digest, self.proxy_name):
                if pending is not None:
                    yield pending
                pending = chunk
        except UpstreamFailedError as error:
            self._source.refused(error)
            raise
        if pending is not None:
            yield pending
