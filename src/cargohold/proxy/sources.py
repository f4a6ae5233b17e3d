"""What the blob fetcher reads from: the ``BlobSource`` protocol (an upstream blob GET that answered 200),
reading a body at upstream speed into a flight and its spooler while hashing it, reading a small body whole
and verifying it before any byte goes out, and replaying such a held body as a source. Also the pull-through
service's side: opening a blob upstream with its size (a HEAD supplies one a chunked answer lacks), and a
body whose refusal is reported to whoever opened it.

A body is bad when it is longer or shorter than announced or does not hash to its digest; that is an
``UpstreamFailedError`` of kind ``BAD_CONTENT`` naming the proxy.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from cargohold.errors import FailureKind, UpstreamError, UpstreamFailedError
from cargohold.models import Digest
from cargohold.proxy.blobs import BlobResponse
from cargohold.proxy.client import UpstreamClient
from cargohold.proxy.flight import Flight
from cargohold.proxy.spooler import Spooler

__all__ = [
    "BlobSource",
    "HeldBody",
    "WatchedBody",
    "bad_body",
    "open_sized",
    "read_verified",
    "receive_body",
    "verified_chunks",
]

log = logging.getLogger(__name__)


class BlobSource(Protocol):
    """An upstream blob GET whose headers arrived with 200 (implemented by ``cargohold.proxy.client``)."""

    @property
    def size(self) -> int | None:
        """Content-Length when given."""
        ...

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body; raises UpstreamFailedError on a stalled, dropped or short body."""
        ...

    def refused(self, error: UpstreamFailedError) -> None:
        """The body was refused (it broke off, or did not match the digest or its length): its proxy
        failed, and should not be asked for this blob again soon."""
        ...

    async def close(self) -> None: ...


async def receive_body(source: BlobSource, spooler: Spooler, flight: Flight, proxy_name: str) -> int:
    """Receive the source's body at upstream speed and return its size once it matches the digest.

    Each chunk is hashed as it arrives, goes to the flight's memory window (feeds that keep up take it from
    there at once) and to the spooler, which writes it to disk in the background."""
    received = 0
    async for chunk in verified_chunks(source, flight.digest, proxy_name):
        received += len(chunk)
        flight.receive(chunk)
        await spooler.put(chunk)
    return received


async def read_verified(source: BlobSource, digest: Digest, proxy_name: str) -> bytes:
    """A small body read whole, checked against its announced size and its digest."""
    return b"".join([chunk async for chunk in verified_chunks(source, digest, proxy_name)])


async def verified_chunks(source: BlobSource, digest: Digest, proxy_name: str) -> AsyncIterator[bytes]:
    """The source's chunks, hashed as they pass; ends only when the body had its announced length and
    matches ``digest``, else raises ``bad_body`` (past the last chunk for a digest or short-body mismatch)."""
    declared = source.size
    hasher = digest.hasher()
    received = 0
    async for chunk in source.iter_chunks():
        received += len(chunk)
        if declared is not None and received > declared:
            raise bad_body(proxy_name, f"it sent more than the {declared} bytes it announced")
        hasher.update(chunk)
        yield chunk
    if declared is not None and received != declared:
        raise bad_body(proxy_name, f"it sent {received} of the {declared} bytes it announced")
    actual = Digest(digest.algorithm, hasher.hexdigest())
    if actual != digest:
        raise bad_body(proxy_name, f"the body hashes to {actual}, not {digest}")


class HeldBody:
    """A small body already read and verified, replayed as a source."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.size: int | None = len(body)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    def refused(self, error: UpstreamFailedError) -> None:
        """Cannot happen to verified bytes; a local failure is nobody's upstream's fault."""

    async def close(self) -> None:
        self._body = b""


def bad_body(proxy_name: str, what: str) -> UpstreamFailedError:
    return UpstreamFailedError(
        f"proxy {proxy_name!r} sent a bad blob body: {what}",
        kind=FailureKind.BAD_CONTENT,
        proxy_name=proxy_name,
    )


class WatchedBody:
    """An upstream blob body whose refusal (it broke off, or did not verify) is reported to ``on_refused``."""

    def __init__(self, response: BlobResponse, on_refused: Callable[[UpstreamFailedError], None]) -> None:
        self._response = response
        self._on_refused = on_refused
        self.size = response.size

    def iter_chunks(self) -> AsyncIterator[bytes]:
        return self._response.iter_chunks()

    def refused(self, error: UpstreamFailedError) -> None:
        self._on_refused(error)

    async def close(self) -> None:
        await self._response.close()


async def open_sized(client: UpstreamClient, image: str, digest: Digest) -> BlobResponse:
    """The upstream's blob GET; when it sends no Content-Length (chunked), the size a HEAD gives, so that
    clients get a length and the body is held to it."""
    response = await client.open_blob(image, digest)
    if response.size is None:
        try:
            response.size = await client.head_blob(image, digest)
        except UpstreamError as error:
            log.info("no size for chunked blob %s from proxy %s: %s", digest, client.name, error.message)
    return response
