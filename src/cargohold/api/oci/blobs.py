"""GET, HEAD and DELETE of /v2/<name>/blobs/<digest>.

Blobs on disk (local or cached) go out with sendfile, with Range support. Blobs in a store without local
files (S3) are streamed through from the store with Range support, or, with ``storage.redirect``, a GET is
answered 307 to a short-lived presigned URL. A blob being fetched through a
proxy is streamed as it arrives (a Range on such a cold miss is answered with the whole blob, as Distribution
does): the newest bytes from memory, and what a client reads from the growing spool or the just-committed
file with sendfile too. A blob the disk has no room for comes straight from the upstream, uncached
(``DirectBlob``). If the upstream breaks off, the connection is dropped so the client sees a short body
rather than wrong bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from aiohttp import web

from cargohold.api.oci.errors import API_VERSION_HEADER, CACHE_OUTCOME_KEY, UPSTREAM_HEADER
from cargohold.api.oci.ranges import parse_blob_range
from cargohold.api.oci.services import OciServices
from cargohold.errors import CargoholdError
from cargohold.models import Digest
from cargohold.proxy.fetch import BlobFeed, FileRegion
from cargohold.proxy.passthrough import DirectBlob
from cargohold.registry.addressing import ImageAddress

log = logging.getLogger(__name__)

BLOB_CONTENT_TYPE = "application/octet-stream"


def _headers(digest: Digest, proxy_name: str | None) -> dict[str, str]:
    headers = {
        **API_VERSION_HEADER,
        "Docker-Content-Digest": str(digest),
        "Content-Type": BLOB_CONTENT_TYPE,
    }
    if proxy_name is not None:
        headers[UPSTREAM_HEADER] = proxy_name
    return headers


async def get_blob(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    digest = Digest.parse(argument)
    served = await services.pull.blob(address, digest, head=request.method == "HEAD")
    if isinstance(served, BlobFeed | DirectBlob):
        request[CACHE_OUTCOME_KEY] = "miss"
        return await _stream(request, served)
    request[CACHE_OUTCOME_KEY] = "hit"
    range_header = request.headers.get("Range")
    if range_header is not None:
        parse_blob_range(range_header, served.size)
    headers = _headers(digest, served.proxy_name)
    headers["Cache-Control"] = "max-age=31536000, immutable"
    if served.path is None:
        return await _from_store(request, services, served.digest, served.size, headers)
    _check_openable(served.path)
    return web.FileResponse(served.path, headers=headers)


async def _from_store(
    request: web.Request, services: OciServices, digest: Digest, size: int, headers: dict[str, str]
) -> web.StreamResponse:
    """A stored blob without a local file (the S3 driver): a GET is redirected to a presigned URL when the
    store redirects (Range then goes to the store), else streamed through with Range support."""
    if request.method == "GET":
        location = await services.blobs.redirect_url(digest)
        if location is not None:
            redirect = {key: value for key, value in headers.items() if key != "Cache-Control"}
            return web.Response(status=307, headers={**redirect, "Location": location, "Content-Length": "0"})
    start, end, status = 0, size - 1, 200
    range_header = request.headers.get("Range")
    headers["Accept-Ranges"] = "bytes"
    if range_header is not None:
        start, end = parse_blob_range(range_header, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start + 1 if size else 0
    if request.method == "HEAD" or not size:
        await response.prepare(request)
        return response
    chunks = aiter(services.blobs.read(digest, start, end - start + 1))
    first = await anext(chunks, b"")  # a blob gone from the store fails here, with a proper error answer
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except CargoholdError as error:  # prepared already: a short body, never a wrong one
        log.warning("blob %s broke off while read from the store: %s", digest, error.message)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


def _check_openable(path: Path) -> None:
    """Raise the OSError of a file that cannot be opened now (out of descriptors, say): ``FileResponse``
    would answer any failure to open it 404, which is wrong for a blob the image holds."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    except FileNotFoundError:
        return  # gone meanwhile: FileResponse's 404 is right
    # any other OSError goes to the error guard (503 for a want of descriptors, else 500)


async def _stream(request: web.Request, feed: BlobFeed | DirectBlob) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=_headers(feed.digest, feed.proxy_name))
    if feed.size is not None:
        response.content_length = feed.size
    try:
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        async for part in feed.parts():
            if isinstance(part, FileRegion):
                await _send_region(request, part)
            else:
                await response.write(part)
        await response.write_eof()
    except CargoholdError as error:
        log.warning("blob %s from proxy %s broke off: %s", feed.digest, feed.proxy_name, error.message)
        if request.transport is not None:
            request.transport.abort()
    finally:
        await feed.aclose()
    return response


async def _send_region(request: web.Request, region: FileRegion) -> None:
    """Send a region of a file after what was written before it (the loop waits for the transport's buffer
    to drain first), with sendfile where the transport allows it."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away")
    loop = asyncio.get_running_loop()
    await loop.sendfile(transport, region.file, region.offset, region.count)


async def delete_blob(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    digest = Digest.parse(argument)
    await services.blobs.delete(address, digest)
    return web.Response(status=202, headers={**API_VERSION_HEADER, "Content-Length": "0"})
