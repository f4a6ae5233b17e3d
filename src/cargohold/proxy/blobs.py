"""``BlobResponse``: the body of one upstream blob GET that answered 200, streamed in chunks, never buffered.

The caller (the single-flight fetch) verifies digest and size; this class turns a stalled, dropped or short
body into ``UpstreamFailedError`` (TIMEOUT, UNREACHABLE or BAD_CONTENT) naming the proxy, and hands the
connection back to the pool when the body was read to the end (or closes it when it was not).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from cargohold.errors import FailureKind
from cargohold.proxy.failures import Redactor, failed, transport_error


class BlobResponse:
    """An upstream blob GET whose headers arrived with 200."""

    def __init__(self, response: aiohttp.ClientResponse, *, proxy_name: str, redact: Redactor) -> None:
        self._response = response
        self._proxy = proxy_name
        self._redact = redact
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

    async def __aenter__(self) -> BlobResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
