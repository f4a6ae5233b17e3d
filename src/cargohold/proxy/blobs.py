"""``BlobResponse``: the body of one upstream blob GET that answered 200, streamed in chunks, never buffered.

The caller (the single-flight fetch) verifies digest and size; this class turns a stalled, dropped or short
body into ``UpstreamFailedError`` (TIMEOUT, UNREACHABLE or BAD_CONTENT) naming the proxy, and hands the
connection back to the pool when the body was read to the end (or closes it when it was not).

A body that trickles (each read arrives before the read timeout, but the whole crawls) is cut off by a
``ThroughputFloor``: fewer than ``min_bytes_per_second`` averaged over a window of ``window`` seconds is a
TIMEOUT, so neither the client nor the requests that joined its download wait for it for minutes. The
average is taken when a chunk arrives; the read timeout bounds the wait for one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import aiohttp

from cargohold.errors import FailureKind
from cargohold.proxy.failures import Redactor, failed, transport_error


class ThroughputFloor:
    """The lowest average rate a body may arrive at, over consecutive windows of ``window`` seconds
    (``min_bytes_per_second`` 0 switches it off)."""

    def __init__(
        self, min_bytes_per_second: float, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = min_bytes_per_second
        self._window = window
        self._clock = clock
        self._started = clock()
        self._bytes = 0

    def received(self, count: int) -> str | None:
        """Count ``count`` bytes that just arrived; a description of the shortfall when the window that
        ended is below the floor, else None."""
        if self._rate <= 0:
            return None
        self._bytes += count
        elapsed = self._clock() - self._started
        if elapsed < self._window:
            return None
        rate = self._bytes / elapsed
        if rate < self._rate:
            return (
                f"{self._bytes} bytes in {elapsed:.1f} s ({rate:.0f} B/s), "
                f"below the floor of {self._rate:.0f} B/s"
            )
        self._started += elapsed
        self._bytes = 0
        return None


class BlobResponse:
    """An upstream blob GET whose headers arrived with 200."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        proxy_name: str,
        redact: Redactor,
        floor: ThroughputFloor | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._response = response
        self._on_close = on_close
        """Called once when the response is closed (the client counts the responses it has open)."""
        self._proxy = proxy_name
        self._redact = redact
        self._floor = floor or ThroughputFloor(0, 0)
        self._complete = False
        self._closed = False
        self.size: int | None = response.content_length
        """Content-Length when the upstream gave one."""

    @property
    def url_path(self) -> str:
        """The path the body finally came from (after redirects); never the query (presigned signatures)."""
        return self._response.url.path

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body in the pieces the connection delivered (never re-joined into fixed-size chunks: that
        would copy every byte once more)."""
        where = f"{self._response.url.host}:{self._response.url.port}"
        received = 0
        try:
            async for chunk in self._response.content.iter_any():
                received += len(chunk)
                shortfall = self._floor.received(len(chunk))
                if shortfall is not None:
                    raise failed(
                        self._proxy, FailureKind.TIMEOUT, f"blob body from {where} crawls: {shortfall}"
                    )
                yield chunk
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise transport_error(self._proxy, error, f"blob body from {where}", self._redact) from None
        if self.size is not None and received != self.size:
            raise failed(
                self._proxy,
                FailureKind.BAD_CONTENT,
                f"blob body from {where} ended after {received} of {self.size} bytes",
            )
        self._complete = True

    async def close(self) -> None:
        """Release the connection (or close it if the body was not read to the end). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._complete:
            self._response.release()
        else:
            self._response.close()
        if self._on_close is not None:
            self._on_close()

    async def __aenter__(self) -> BlobResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
