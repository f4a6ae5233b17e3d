"""Warm-up: fetch images into the cache ahead of time, as a pull would, and say what happened as it goes.

``Warmer.warm`` takes images of one repository (``NAME``, ``NAME:TAG`` or ``NAME@DIGEST``) and, for each,
asks ``PullThroughService`` for the manifest (fetched through the proxies when the repository does not hold
it), then for an index each child manifest of the wanted platforms (all when none are named), then every
blob those manifests name: a blob already held is reported ``cached``, one that is not is fetched and its
bytes are read to the end (so the download completes, verified, into the store) and reported ``fetched``.
Nothing is sent anywhere; the bytes only pass through the cache. It is idempotent (a second run reports
everything cached) and bounded: at most ``concurrency`` blobs are fetched at a time. Events come out as
they happen, progress of a blob at most every ``PROGRESS_INTERVAL`` seconds, and a summary last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from cargohold.errors import CargoholdError, ManifestInvalidError, NameUnknownError
from cargohold.models import INDEX_MEDIA_TYPES, Digest, Reference, Repository, validate_image_name
from cargohold.proxy.fetch import FileRegion
from cargohold.proxy.flight import BlobFeed
from cargohold.proxy.service import PullThroughService
from cargohold.registry.addressing import ImageAddress
from cargohold.registry.directory import RepositoryDirectory

log = logging.getLogger(__name__)

PROGRESS_INTERVAL: Final = 0.5
DEFAULT_CONCURRENCY: Final = 4
MAX_IMAGES: Final = 100
"""Images one warm-up may name."""


@dataclass(frozen=True, slots=True)
class WarmEvent:
    """One thing that happened: ``image`` (a manifest was found; ``status`` cached/fetched/failed),
    ``blob`` (a blob starts, with its size), ``progress`` (bytes of a blob so far), ``blob_done``
    (``status`` cached/fetched/failed), ``summary`` (last: counts of blobs and images)."""

    event: str
    image: str | None = None
    digest: str | None = None
    platform: str | None = None
    size: int | None = None
    bytes: int | None = None
    status: str | None = None
    detail: str | None = None
    fetched: int | None = None
    cached: int | None = None
    failed: int | None = None


@dataclass(frozen=True, slots=True)
class WarmTarget:
    """One image to warm: its name and reference."""

    image: str
    reference: Reference

    @classmethod
    def parse(cls, text: str) -> WarmTarget:
        """``NAME``, ``NAME:TAG`` or ``NAME@DIGEST`` (the tag defaults to ``latest``); NameInvalidError,
        TagInvalidError or DigestInvalidError for a malformed one."""
        if "@" in text:
            name, digest = text.split("@", 1)
            return cls(validate_image_name(name), Reference(digest=Digest.parse(digest)))
        last = text.rsplit("/", 1)[-1]
        name, tag = (text.rsplit(":", 1)) if ":" in last else (text, "latest")
        return cls(validate_image_name(name), Reference.parse(tag))

    def __str__(self) -> str:
        separator = "@" if self.reference.digest is not None else ":"
        return f"{self.image}{separator}{self.reference}"


@dataclass(slots=True)
class _Tally:
    fetched: int = 0
    cached: int = 0
    failed: int = 0
    seen: set[Digest] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Blob:
    digest: Digest
    size: int | None
    platform: str | None


class Warmer:
    def __init__(
        self,
        pull: PullThroughService,
        directory: RepositoryDirectory,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._pull = pull
        self._directory = directory
        self._concurrency = concurrency

    async def repository(self, name: str) -> Repository:
        """The repository called ``name``; NameUnknownError when there is none."""
        found = await self._directory.repository(name)
        if found is None:
            raise NameUnknownError(f"repository {name[:80]!r} unknown")
        return found

    async def warm(
        self, repository: Repository, targets: Sequence[WarmTarget], platforms: Sequence[str] = ()
    ) -> AsyncIterator[WarmEvent]:
        """Warm ``targets`` of ``repository``; yields events as they happen, a summary last."""
        run = _Run(self._pull, repository, set(platforms), self._concurrency)
        worker = asyncio.create_task(run.all(targets))
        try:
            while (event := await run.events.get()) is not None:
                yield event
            await worker
        finally:
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        tally = run.tally
        yield WarmEvent("summary", fetched=tally.fetched, cached=tally.cached, failed=tally.failed)


class _Run:
    """One warm-up: its events (None ends them), counts and concurrency bound."""

    def __init__(
        self, pull: PullThroughService, repository: Repository, platforms: set[str], concurrency: int
    ) -> None:
        self.pull = pull
        self.repository = repository
        self.platforms = platforms
        self.events: asyncio.Queue[WarmEvent | None] = asyncio.Queue()
        self.tally = _Tally()
        self.slots = asyncio.Semaphore(concurrency)

    def emit(self, event: WarmEvent) -> None:
        self.events.put_nowait(event)

    async def all(self, targets: Sequence[WarmTarget]) -> None:
        try:
            await self._targets(targets)
        except Exception as error:  # reported to the caller as a failure, and logged with its traceback
            log.exception("warm-up of %s failed", self.repository.name)
            self.tally.failed += 1
            self.emit(WarmEvent("error", status="failed", detail=f"{type(error).__name__}: {error}"))
        finally:
            self.events.put_nowait(None)

    async def _targets(self, targets: Sequence[WarmTarget]) -> None:
        if True:
            for target in targets:
                address = ImageAddress(self.repository, target.image, target.image)
                blobs = [
                    blob
                    for blob in await self.manifests(address, target)
                    if blob.digest not in self.tally.seen
                ]
                self.tally.seen.update(blob.digest for blob in blobs)
                await asyncio.gather(*(self.blob(address, blob) for blob in blobs))

    async def manifests(self, address: ImageAddress, target: WarmTarget) -> list[_Blob]:
        """The blobs of ``target`` (of the wanted platforms), after its manifests were found."""
        try:
            top = await self.pull.manifest(address, target.reference)
        except CargoholdError as error:
            self.tally.failed += 1
            self.emit(WarmEvent("image", image=str(target), status="failed", detail=error.message))
            return []
        self.emit(_image_event(str(target), top.record.digest, top.fetched))
        document = _json(top.content)
        if top.record.media_type not in INDEX_MEDIA_TYPES:
            return [_Blob(digest, size, None) for digest, size in _blobs_of(document)]
        found: list[_Blob] = []
        for child, platform in _children_of(document):
            if self.platforms and not _wanted(platform, self.platforms):
                continue
            name = f"{address.image}@{child}"
            try:
                served = await self.pull.manifest(address, Reference(digest=child))
            except CargoholdError as error:
                self.tally.failed += 1
                self.emit(
                    WarmEvent("image", image=name, platform=platform, status="failed", detail=error.message)
                )
                continue
            self.emit(replace(_image_event(name, child, served.fetched), platform=platform))
            found.extend(_Blob(digest, size, platform) for digest, size in _blobs_of(_json(served.content)))
        return found

    async def blob(self, address: ImageAddress, blob: _Blob) -> None:
        digest = str(blob.digest)
        async with self.slots:
            self.emit(
                WarmEvent("blob", image=address.image, digest=digest, size=blob.size, platform=blob.platform)
            )
            try:
                served = await self.pull.blob(address, blob.digest)
                if not isinstance(served, BlobFeed):
                    self.tally.cached += 1
                    self.emit(WarmEvent("blob_done", digest=digest, bytes=served.size, status="cached"))
                    return
                received = await _drain(served, self.emit)
            except CargoholdError as error:
                self.tally.failed += 1
                self.emit(WarmEvent("blob_done", digest=digest, status="failed", detail=error.message))
                return
            self.tally.fetched += 1
            self.emit(WarmEvent("blob_done", digest=digest, bytes=received, status="fetched"))


async def _drain(feed: BlobFeed, emit: Callable[[WarmEvent], None]) -> int:
    """Read a fetched blob to its end without holding it (regions of the spool are counted, not read)."""
    received = 0
    reported = time.monotonic()
    try:
        async for part in feed.parts():
            received += part.count if isinstance(part, FileRegion) else len(part)
            if time.monotonic() - reported >= PROGRESS_INTERVAL:
                reported = time.monotonic()
                emit(WarmEvent("progress", digest=str(feed.digest), bytes=received))
    finally:
        await feed.aclose()
    return received


def _image_event(name: str, digest: Digest, fetched: bool) -> WarmEvent:
    return WarmEvent("image", image=name, digest=str(digest), status="fetched" if fetched else "cached")


def _json(content: bytes) -> dict[str, object]:
    try:
        document = json.loads(content)
    except ValueError:
        raise ManifestInvalidError("the manifest is not JSON") from None
    if not isinstance(document, dict):
        raise ManifestInvalidError("the manifest is not a JSON object")
    return document


def _descriptor(value: object) -> tuple[Digest, int | None] | None:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        return None
    size = value.get("size")
    return Digest.parse(value["digest"]), size if isinstance(size, int) else None


def _blobs_of(document: dict[str, object]) -> list[tuple[Digest, int | None]]:
    """The config and layers of an image manifest (validated when it was stored)."""
    layers = document.get("layers")
    entries = [document.get("config"), *(layers if isinstance(layers, list) else [])]
    return [found for entry in entries if (found := _descriptor(entry)) is not None]


def _children_of(document: dict[str, object]) -> list[tuple[Digest, str]]:
    """The child manifests of an index with their platforms (``os/arch[/variant]``)."""
    children = document.get("manifests")
    found: list[tuple[Digest, str]] = []
    for entry in children if isinstance(children, list) else []:
        descriptor = _descriptor(entry)
        if descriptor is None:
            continue
        platform = entry.get("platform") if isinstance(entry, dict) else None
        found.append((descriptor[0], _platform_name(platform)))
    return found


def _wanted(platform: str, wanted: set[str]) -> bool:
    """Whether ``platform`` (``os/arch[/variant]``) is wanted: named exactly, or its ``os/arch`` named
    without a variant (``linux/arm64`` takes ``linux/arm64/v8``)."""
    return platform in wanted or "/".join(platform.split("/")[:2]) in wanted


def _platform_name(platform: object) -> str:
    if not isinstance(platform, dict):
        return "unknown"
    parts = [str(platform.get("os", "unknown")), str(platform.get("architecture", "unknown"))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)
