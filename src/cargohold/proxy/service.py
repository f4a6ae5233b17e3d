"""The pull flow of docs/pull-flow.md: local content first, then the repository's proxies in priority order.

Manifests: a digest that is here is always good; a tag is served as it is while younger than the
repository's ``tag_ttl_seconds``, then revalidated with a HEAD and re-fetched by digest only if it moved.
When a proxy fails before one answers, a cached tag is served stale: a lower-priority proxy never
replaces it during an outage of a higher one (provenance-safe fallthrough, docs/security.md). Concurrent
requests for the same missing manifest share one upstream fetch; one that every proxy said it does not have
is answered 404 without asking them again for a while (``cargohold.proxy.absent``; local content is always
looked up first). A fetched manifest is cached only if it passes the rules of a push; one that does not is
bad content of the proxy that sent it, and the next proxy is asked.

Blobs: a blob linked into the image is served from disk. Otherwise it is fetched through the proxies (the
one that served the image's manifest first) by the single-flight fetcher, which streams it to every waiting
client while it is verified and committed. A cached blob whose stored file is damaged (not its recorded
size) is fetched again the same way, and the verified download replaces the file.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cargohold.errors import (
    BlobDamagedError,
    BlobUnknownError,
    DigestInvalidError,
    FailureKind,
    ManifestInvalidError,
    ManifestUnknownError,
    RegistryError,
    SizeInvalidError,
    TooManyRequestsError,
    UnavailableError,
    UpstreamFailedError,
)
from cargohold.metadata.base import ContentStore
from cargohold.models import ContentSource, Digest, ManifestRecord, Reference, Repository, TagRecord
from cargohold.proxy.absent import AbsentManifests
from cargohold.proxy.bad_bodies import BadBodies
from cargohold.proxy.client import FetchedManifest, UpstreamClient
from cargohold.proxy.failures import failed
from cargohold.proxy.fetch import BlobFeed, BlobFetcher, BlobSource
from cargohold.proxy.passthrough import DirectBlob, NoRoomToCacheError
from cargohold.proxy.resolver import ProxiesExhaustedError, ProxyResolver
from cargohold.proxy.singleflight import SingleFlight
from cargohold.proxy.sources import WatchedBody, open_sized
from cargohold.proxy.stats import StatsRecorder
from cargohold.proxy.vouchers import Vouchers
from cargohold.registry.addressing import ImageAddress
from cargohold.registry.blobs import BlobInfo, BlobService
from cargohold.registry.images import ManifestService
from cargohold.registry.space import SpaceGuard

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedManifest:
    record: ManifestRecord
    content: bytes
    proxy_name: str | None
    """The proxy the manifest came through (now or when it was cached); None for local content."""
    stale: bool = False
    fetched: bool = False
    """True when it was fetched from the proxy for this request (a cache miss)."""


Blob = BlobInfo | BlobFeed | DirectBlob
"""A blob as the pull flow serves it: stored, being fetched into the cache, or sent through uncached."""


class PullThroughService:
    def __init__(
        self,
        metadata: ContentStore,
        manifests: ManifestService,
        blobs: BlobService,
        resolver: ProxyResolver,
        fetcher: BlobFetcher,
        stats: StatsRecorder,
        absent: AbsentManifests | None = None,
        room: SpaceGuard | None = None,
    ) -> None:
        self._room = room
        """Whether a blob may be cached (eviction first); without room it is served through uncached."""
        self._stats = stats
        self._absent = absent or AbsentManifests(ttl=0)
        self._metadata = metadata
        self._manifests = manifests
        self._blobs = blobs
        self._resolver = resolver
        self._fetcher = fetcher
        self._manifest_flights: SingleFlight[ServedManifest] = SingleFlight()
        self._vouchers = Vouchers()
        self._bad_bodies = BadBodies()

    async def close(self) -> None:
        await self._manifest_flights.close()
        await self._fetcher.close()

    # --- manifests ---------------------------------------------------------------------------------

    async def manifest(
        self, address: ImageAddress, reference: Reference, head: bool = False
    ) -> ServedManifest:
        """The manifest for a GET (or, with ``head``, a HEAD: counted without bytes served)."""
        served = await self._find_manifest(address, reference)
        repository_id = address.repository_id
        if served.fetched:
            assert served.proxy_name is not None
            self._stats.request(repository_id, hit=False)
            self._stats.fetched(repository_id, served.proxy_name, len(served.content))
        else:
            self._stats.request(repository_id, hit=True, bytes_from_cache=0 if head else len(served.content))
        if served.stale:
            self._stats.stale(repository_id)
        self._stats.pulled(repository_id, address.image, served.record.digest)
        return served

    async def _find_manifest(self, address: ImageAddress, reference: Reference) -> ServedManifest:
        key = (address.repository_id, address.image, str(reference))
        if reference.digest is not None:
            record = await self._metadata.get_manifest(address.repository_id, address.image, reference.digest)
            if record is not None:
                return await self._serve(record)
            return await self._manifest_flights.run(key, lambda: self._fetch_manifest(address, reference))
        assert reference.tag is not None
        tag = await self._metadata.get_tag(address.repository_id, address.image, reference.tag)
        record = None
        if tag is not None:
            record = await self._metadata.get_manifest(address.repository_id, address.image, tag.digest)
        if tag is not None and record is not None:
            if tag.source is ContentSource.LOCAL or _fresh(tag, address.repository):
                return await self._serve(record)
            cached = record
            return await self._manifest_flights.run(key, lambda: self._revalidate(address, reference, cached))
        return await self._manifest_flights.run(key, lambda: self._fetch_manifest(address, reference))

    async def _serve(self, record: ManifestRecord, stale: bool = False) -> ServedManifest:
        return ServedManifest(record, await self._manifests.content(record), record.proxy_name, stale)

    async def _fetch_manifest(self, address: ImageAddress, reference: Reference) -> ServedManifest:
        absent = (address.repository_id, address.image, str(reference))
        if self._absent.absent(absent):
            raise ManifestUnknownError(
                f"manifest {reference} is unknown to {address.name} (no proxy had it a moment ago)"
            )
        try:
            proxy, (fetched, record) = await self._resolver.first_answer(
                address.repository,
                lambda client: self._fetch_and_record(client, address, reference, reference.tag),
                image=address.image,
            )
        except ProxiesExhaustedError as exhausted:
            if exhausted.outcomes and exhausted.nobody_has_it:
                self._absent.remember(absent)
            raise _unanswered(
                exhausted, ManifestUnknownError(f"manifest {reference} is unknown to {address.name}")
            ) from None
        log.info("cached %s:%s (%s) from proxy %s", address.name, reference, fetched.digest, proxy.name)
        return ServedManifest(record, fetched.content, proxy.name, fetched=True)

    async def _fetch_and_record(
        self, client: UpstreamClient, address: ImageAddress, wanted: Reference, tag: str | None
    ) -> tuple[FetchedManifest, ManifestRecord]:
        """GET a manifest from one proxy and cache it. Content that a push would be refused (the rules of
        ``ManifestService.record_cached``) is kept nowhere and counts as bad content of that proxy, so the
        resolver asks the next one."""
        fetched = await client.get_manifest(address.image, wanted)
        try:
            record = await self._record(address, fetched, client.name, tag)
        except (ManifestInvalidError, SizeInvalidError, DigestInvalidError) as error:
            what = (
                f"manifest {address.image}:{wanted}" if wanted.tag else f"manifest {address.image}@{wanted}"
            )
            raise failed(client.name, FailureKind.BAD_CONTENT, f"{what}: {error.message}") from None
        return fetched, record

    async def _record(
        self, address: ImageAddress, fetched: FetchedManifest, proxy_name: str, tag: str | None
    ) -> ManifestRecord:
        """Cache a fetched manifest, and remember that its proxy vouches for the blobs it names."""
        record, references = await self._manifests.record_cached(
            address, fetched.content, fetched.digest, fetched.media_type, proxy_name, tag
        )
        self._vouchers.record(address.repository_id, address.image, references.blobs, proxy_name)
        return record

    async def _revalidate(
        self, address: ImageAddress, reference: Reference, cached: ManifestRecord
    ) -> ServedManifest:
        """HEAD the tag upstream (priority order); re-fetch by digest only when it moved."""
        assert reference.tag is not None
        absent = (address.repository_id, address.image, str(reference))
        if self._absent.absent(absent):
            raise ManifestUnknownError(
                f"manifest {reference} is no longer in any proxy of {address.repository.name}"
            )
        try:
            proxy, head = await self._resolver.first_answer(
                address.repository,
                lambda client: client.head_manifest(address.image, reference),
                hold_on_failure=True,
                image=address.image,
            )
        except ProxiesExhaustedError as exhausted:
            if exhausted.outcomes and exhausted.nobody_has_it:
                self._absent.remember(absent)
            return await self._unrevalidated(address, reference, cached, exhausted)
        if head.digest == cached.digest:
            await self._manifests.refresh_tag(address, reference.tag, cached)
            return await self._serve(cached)
        moved = Reference(digest=head.digest)
        try:
            proxy, (fetched, record) = await self._resolver.first_answer(
                address.repository,
                lambda client: self._fetch_and_record(client, address, moved, reference.tag),
                only=proxy.name,
                image=address.image,
            )
        except ProxiesExhaustedError as exhausted:
            return await self._unrevalidated(address, reference, cached, exhausted)
        log.info(
            "tag %s:%s moved %s -> %s (proxy %s)",
            address.name,
            reference,
            cached.digest,
            head.digest,
            proxy.name,
        )
        return ServedManifest(record, fetched.content, proxy.name, fetched=True)

    async def _unrevalidated(
        self,
        address: ImageAddress,
        reference: Reference,
        cached: ManifestRecord,
        exhausted: ProxiesExhaustedError,
    ) -> ServedManifest:
        if not exhausted.outcomes:  # no active proxy left: cached content is all there is
            return await self._serve(cached)
        if exhausted.nobody_has_it:
            raise ManifestUnknownError(
                f"manifest {reference} is no longer in any proxy of {address.repository.name}",
                detail=exhausted.detail,
            )
        log.warning(
            "serving stale %s:%s (%s) rather than asking lower-priority proxies: %s",
            address.name,
            reference,
            cached.digest,
            exhausted,
        )
        return await self._serve(cached, stale=True)

    # --- blobs -------------------------------------------------------------------------------------

    async def blob(self, address: ImageAddress, digest: Digest, head: bool = False) -> Blob:
        """The blob from disk when the image has it, else a feed of it being fetched through a proxy (or,
        when the disk has no room for it, sent straight through from the proxy)."""
        served = await self._find_blob(address, digest)
        if isinstance(served, BlobFeed | DirectBlob):
            self._stats.request(address.repository_id, hit=False)
            if isinstance(served, DirectBlob) and not head:
                self._stats.uncached(address.repository_id, served.proxy_name, served.size or 0)
        else:
            self._stats.request(address.repository_id, hit=True, bytes_from_cache=0 if head else served.size)
        if not head and not isinstance(served, DirectBlob):
            self._stats.blob_pulled(address.repository_id, address.image, digest)
        return served

    async def _find_blob(self, address: ImageAddress, digest: Digest) -> Blob:
        """The blob as the image holds it, or as one of the repository's own proxies sends it.

        Stored bytes are shared across repositories only where that discloses nothing: the repository links
        them already, or a public repository does. Otherwise they are fetched through this repository's
        proxies even though the store has them (a hostile proxy can name any digest in a manifest, but
        cannot send the bytes of one it does not have)."""
        await self._fetcher.settled(digest, _scope(address))
        try:
            return await self._blobs.stat(address, digest)
        except BlobDamagedError as damaged:
            if not damaged.cached or not await self._resolver.active_proxies(address.repository):
                raise
            return await self._refetch(address, digest, damaged)
        except BlobUnknownError:
            if not await self._resolver.active_proxies(address.repository):
                raise
        vouched_by = await self._voucher(address, digest)
        if vouched_by is None:
            # Nothing this image fetched names the blob: its own proxies must say they serve it to this
            # image before it is linked there, or a download for another image is joined.
            vouched_by = await self._confirm_blob(address, digest)
        shared = await self._blobs.shared_size(address, digest)
        if shared is not None:
            await self._blobs.link_cached(address, digest, shared, vouched_by)
            return await self._blobs.stat(address, digest)

        async def reusable(blob: Digest) -> int | None:
            return await self._blobs.shared_size(address, blob)

        return await self._fetch_blob(address, digest, vouched_by, reusable)

    async def _refetch(self, address: ImageAddress, digest: Digest, damaged: BlobDamagedError) -> Blob:
        """Fetch a cached blob whose stored file is damaged once more; the verified download replaces it."""

        async def whole(blob: Digest) -> int | None:
            size = await self._blobs.shared_size(address, blob)
            return size if size == damaged.recorded_size else None

        return await self._fetch_blob(address, digest, damaged.proxy_name or "", whole)

    async def _fetch_blob(
        self,
        address: ImageAddress,
        digest: Digest,
        vouched_by: str,
        reusable: Callable[[Digest], Awaitable[int | None]],
    ) -> BlobFeed | DirectBlob:
        """Start or join the download of the blob for the image, ``vouched_by``'s proxy asked first; without
        room on the disk for it, send it through uncached."""
        prefer = vouched_by or None

        async def open_upstream() -> tuple[str, BlobSource]:
            names = [proxy.name for proxy in await self._resolver.active_proxies(address.repository)]
            try:
                proxy, response = await self._resolver.first_answer(
                    address.repository,
                    lambda client: open_sized(client, address.image, digest),
                    prefer=prefer,
                    avoid=self._bad_bodies.proxies(address.repository_id, digest, names),
                    image=address.image,
                )
            except ProxiesExhaustedError as exhausted:
                raise _unanswered(exhausted, _blob_unknown(address, digest)) from None
            return proxy.name, WatchedBody(
                response, lambda error: self.body_refused(address, digest, proxy.name, error)
            )

        async def open_source() -> tuple[str, BlobSource]:
            proxy_name, source = await open_upstream()
            if self._room is not None and not await self._room.room_for(source.size or 0):
                await source.close()
                raise NoRoomToCacheError(f"no room on the disk to cache {digest} ({source.size} bytes)")
            return proxy_name, source

        async def committed(size: int, proxy_name: str) -> None:
            proxy_name = proxy_name or vouched_by  # "" when another worker fetched it: our HEAD vouched
            await self._blobs.link_cached(address, digest, size, proxy_name)
            self._stats.fetched(address.repository_id, proxy_name, size)
            log.info("cached blob %s for %s from proxy %s (%d bytes)", digest, address.name, proxy_name, size)

        try:
            return await self._fetcher.fetch(
                digest, open_source, committed, scope=_scope(address), reusable=reusable
            )
        except NoRoomToCacheError as full:
            proxy_name, source = await open_upstream()
            log.warning("serving %s to %s uncached: %s", digest, address.name, full.message)
            return DirectBlob(digest, proxy_name, source)

    def body_refused(
        self, address: ImageAddress, digest: Digest, proxy_name: str, error: UpstreamFailedError
    ) -> None:
        """A proxy's body of a blob broke off or did not verify: it failed, and is not asked for that blob
        again for a while (the next request goes to the next proxy)."""
        log.warning(
            "proxy %s of repository %s failed (%s) on blob %s: %s; it is not asked for that blob again soon",
            proxy_name,
            address.repository.name,
            error.kind.value,
            digest,
            error.message,
        )
        self._resolver.record_failure(address.repository, proxy_name, error, request=f"blob {digest}")
        self._bad_bodies.record(address.repository_id, digest, proxy_name)

    async def _voucher(self, address: ImageAddress, digest: Digest) -> str | None:
        """The proxy whose cached manifest of this image names the blob (from memory, else the database)."""
        remembered = self._vouchers.proxy_for(address.repository_id, address.image, digest)
        if remembered is not None:
            return remembered
        voucher = await self._metadata.manifest_referencing(address.repository_id, address.image, digest)
        if voucher is None or voucher.source is not ContentSource.CACHED:
            return None
        return voucher.proxy_name

    async def _confirm_blob(self, address: ImageAddress, digest: Digest) -> str:
        """The first proxy (priority order) that answers a HEAD for the blob in this image."""
        try:
            proxy, _ = await self._resolver.first_answer(
                address.repository,
                lambda client: client.head_blob(address.image, digest),
                image=address.image,
            )
        except ProxiesExhaustedError as exhausted:
            raise _unanswered(exhausted, _blob_unknown(address, digest)) from None
        return proxy.name


def _scope(address: ImageAddress) -> str:
    """The fetcher's scope of a pull: downloads are shared within a repository, never across."""
    return f"r{address.repository_id}"


def _fresh(tag: TagRecord, repository: Repository) -> bool:
    if tag.updated_at is None:
        return False
    return datetime.now(UTC) - tag.updated_at < timedelta(seconds=repository.tag_ttl_seconds)


def _blob_unknown(address: ImageAddress, digest: Digest) -> BlobUnknownError:
    return BlobUnknownError(f"blob {digest} is unknown to {address.name}", detail={"digest": str(digest)})


def _unanswered(exhausted: ProxiesExhaustedError, not_found: RegistryError) -> RegistryError:
    """The client's answer when no proxy delivered: not found, rate limited, or unavailable."""
    if exhausted.nobody_has_it:
        not_found.detail = exhausted.detail
        return not_found
    message = f"no proxy could answer: {exhausted.message}"
    if exhausted.rate_limited:
        return TooManyRequestsError(message, retry_after=exhausted.retry_after, detail=exhausted.detail)
    return UnavailableError(message, detail=exhausted.detail)
