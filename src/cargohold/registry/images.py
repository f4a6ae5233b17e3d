"""Manifests and tags of an image: push (validated, stored as the exact bytes), pull, delete, list.

A pushed manifest is accepted only when it parses, its media type matches the Content-Type, every blob
and child manifest it references is already readable in the image, and it nests no deeper than
MAX_INDEX_DEPTH indexes. A manifest fetched through a proxy is held to the same rules. Its bytes go to the
blob store under their digest; the metadata store records the manifest, what it references, and the tag.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass

from cargohold.errors import (
    DigestInvalidError,
    ManifestBlobUnknownError,
    ManifestInvalidError,
    ManifestUnknownError,
    NameUnknownError,
    RegistryError,
)
from cargohold.metadata.base import ContentStore
from cargohold.models import (
    INDEX_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    ContentSource,
    Digest,
    ManifestRecord,
    ManifestReferences,
    Page,
    Reference,
)
from cargohold.registry.addressing import ImageAddress
from cargohold.registry.manifests import (
    MAX_INDEX_DEPTH,
    ParsedManifest,
    parse_fetched_manifest,
    parse_manifest,
)
from cargohold.storage.base import BlobStore


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: Digest
    subject: Digest | None


class ManifestService:
    def __init__(
        self, metadata: ContentStore, store: BlobStore, memory_bytes: int = 32 * 1024 * 1024
    ) -> None:
        self._metadata = metadata
        self._store = store
        self._recent = RecentContent(memory_bytes)

    async def content(self, record: ManifestRecord) -> bytes:
        """The exact bytes of a manifest (content-addressed, so a memory cache of them never goes stale)."""
        cached = self._recent.get(record.digest)
        if cached is not None:
            return cached
        content = await self._store.read_small(record.digest, MAX_MANIFEST_BYTES)
        self._recent.put(record.digest, content)
        return content

    async def refresh_tag(self, address: ImageAddress, tag: str, record: ManifestRecord) -> None:
        """Mark a cached tag as checked just now (its upstream still points it at ``record``)."""
        await self._metadata.put_manifest(
            address.repository_id, address.image, record, ManifestReferences(), tag=tag
        )

    async def put(
        self, address: ImageAddress, reference: Reference, content: bytes, content_type: str
    ) -> PushedManifest:
        parsed = parse_manifest(content, content_type)
        digest = _content_digest(content, reference)
        await self._check_references(address, parsed)
        await self._check_nesting(address, digest, parsed)
        await self._store_bytes(content, digest)
        record = ManifestRecord(
            digest=digest,
            media_type=parsed.media_type,
            size=len(content),
            artifact_type=parsed.artifact_type,
            subject=parsed.subject,
            annotations=parsed.annotations,
        )
        await self._metadata.put_manifest(
            address.repository_id, address.image, record, parsed.references, tag=reference.tag
        )
        return PushedManifest(digest, parsed.subject)

    async def record_cached(
        self,
        address: ImageAddress,
        content: bytes,
        digest: Digest,
        media_type: str,
        proxy_name: str,
        tag: str | None,
    ) -> tuple[ManifestRecord, ManifestReferences]:
        """Keep a manifest fetched through a proxy, byte for byte, and point ``tag`` at it; returns its record
        and what it references.

        Its digest was verified by the fetch. It must pass the rules of a push (ManifestInvalidError
        otherwise, and nothing is kept), nesting included, except that a Docker schema 1 manifest is kept
        with no references.
        Its blobs are not required to be here: they are fetched on demand.
        """
        parsed = parse_fetched_manifest(content, media_type)
        if parsed is not None:
            await self._check_nesting(address, digest, parsed)
        await self._store_bytes(content, digest)
        record = ManifestRecord(
            digest=digest,
            media_type=media_type,
            size=len(content),
            artifact_type=parsed.artifact_type if parsed else None,
            subject=parsed.subject if parsed else None,
            annotations=parsed.annotations if parsed else None,
            source=ContentSource.CACHED,
            proxy_name=proxy_name,
        )
        references = parsed.references if parsed else ManifestReferences()
        await self._metadata.put_manifest(address.repository_id, address.image, record, references, tag=tag)
        return record, references

    async def delete(self, address: ImageAddress, reference: Reference) -> None:
        """By digest, remove the manifest and its tags; by tag, remove only the tag."""
        if reference.tag is not None:
            deleted = await self._metadata.delete_tag(address.repository_id, address.image, reference.tag)
        else:
            assert reference.digest is not None
            deleted = await self._metadata.delete_manifest(
                address.repository_id, address.image, reference.digest
            )
        if not deleted:
            raise ManifestUnknownError(f"manifest {reference} is unknown to {address.name}")

    async def tags(self, address: ImageAddress, n: int | None, last: str | None) -> Page:
        if not await self._metadata.image_exists(address.repository_id, address.image):
            raise NameUnknownError(f"{address.name} holds no image", detail={"name": address.name})
        return await self._metadata.list_tags(address.repository_id, address.image, n, last)

    async def catalog(self, n: int | None, last: str | None) -> Page:
        return await self._metadata.catalog(n, last)

    async def referrers(
        self, address: ImageAddress, subject: Digest, artifact_type: str | None
    ) -> list[ManifestRecord]:
        return await self._metadata.list_referrers(
            address.repository_id, address.image, subject, artifact_type
        )

    async def _store_bytes(self, content: bytes, digest: Digest) -> None:
        if digest.algorithm == "sha256":
            await self._store.put_small(content)
            return
        writer = await self._store.start_upload(uuid.uuid4().hex)
        await writer.write(content)
        await writer.commit(digest, len(content))

    async def _check_references(self, address: ImageAddress, parsed: ParsedManifest) -> None:
        for blob in parsed.references.blobs:
            if await self._metadata.linked_blob_size(address.repository_id, address.image, blob) is None:
                raise ManifestBlobUnknownError(
                    f"blob {blob} is not in {address.name}; push it first", detail={"digest": str(blob)}
                )
        for child in parsed.references.manifests:
            if await self._metadata.get_manifest(address.repository_id, address.image, child) is None:
                raise ManifestBlobUnknownError(
                    f"manifest {child} is not in {address.name}; push it first", detail={"digest": str(child)}
                )

    async def _check_nesting(self, address: ImageAddress, digest: Digest, parsed: ParsedManifest) -> None:
        """Refuse an index that would be part of a chain of more than MAX_INDEX_DEPTH indexes in the image:
        the indexes recorded above it (a proxied index arrives after its parent) plus the levels of the
        indexes recorded below it (a pushed index arrives after its children)."""
        if not parsed.is_index:
            return
        above = await self._indexes_above(address, digest)
        depth = above + await self._levels(address, parsed.references.manifests, {}, MAX_INDEX_DEPTH - above)
        if depth > MAX_INDEX_DEPTH:
            raise ManifestInvalidError(
                f"indexes nest {depth} levels deep with this one; at most {MAX_INDEX_DEPTH} are allowed",
                detail={"depth": depth, "limit": MAX_INDEX_DEPTH},
            )

    async def _indexes_above(self, address: ImageAddress, digest: Digest) -> int:
        """The recorded indexes of the image above ``digest`` (one parent each), counted up to the cap."""
        above, child, seen = 0, digest, {digest}
        while above <= MAX_INDEX_DEPTH:
            parent = await self._metadata.manifest_referencing(address.repository_id, address.image, child)
            if parent is None or parent.media_type not in INDEX_MEDIA_TYPES or parent.digest in seen:
                break
            above += 1
            child = parent.digest
            seen.add(child)
        return above

    async def _levels(
        self, address: ImageAddress, children: tuple[Digest, ...], known: dict[Digest, int], room: int
    ) -> int:
        """The levels of an index with ``children``: 1, plus the most levels of the recorded indexes among
        them. Counting stops once it passes ``room`` (the answer is "too deep" then, whatever the rest)."""
        deepest = 0
        for child in children:
            if deepest >= room:
                break
            levels = known.get(child)
            if levels is None:
                levels = 0
                record = await self._metadata.get_manifest(address.repository_id, address.image, child)
                if record is not None and record.media_type in INDEX_MEDIA_TYPES:
                    grandchildren = await self._children(record)
                    levels = await self._levels(address, grandchildren, known, room - 1)
                known[child] = levels
            deepest = max(deepest, levels)
        return 1 + deepest

    async def _children(self, record: ManifestRecord) -> tuple[Digest, ...]:
        """The child manifests a recorded index names (none if its bytes are gone or unreadable)."""
        try:
            parsed = parse_fetched_manifest(await self.content(record), record.media_type)
        except (RegistryError, ValueError):
            return ()
        return parsed.references.manifests if parsed is not None else ()


class RecentContent:
    """A least-recently-used map of digest to bytes, bounded by their total size."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._size = 0
        self._entries: OrderedDict[Digest, bytes] = OrderedDict()

    def get(self, digest: Digest) -> bytes | None:
        content = self._entries.get(digest)
        if content is not None:
            self._entries.move_to_end(digest)
        return content

    def put(self, digest: Digest, content: bytes) -> None:
        if len(content) > self._capacity // 16 or digest in self._entries:
            return
        self._entries[digest] = content
        self._size += len(content)
        while self._size > self._capacity:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)


def _content_digest(content: bytes, reference: Reference) -> Digest:
    """The manifest's digest: sha256 by tag, else the algorithm of the digest reference, which must match."""
    if reference.digest is None:
        return Digest.of(content)
    actual = Digest.of(content, reference.digest.algorithm)
    if actual != reference.digest:
        raise DigestInvalidError(
            f"manifest hashes to {actual}, not {reference.digest}", detail={"digest": str(reference.digest)}
        )
    return actual
