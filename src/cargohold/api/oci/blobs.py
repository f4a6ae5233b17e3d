"""GET, HEAD and DELETE of /v2/<name>/blobs/<digest>: cache hits and local blobs go out with sendfile."""

from __future__ import annotations

from aiohttp import web

from cargohold.api.oci.errors import API_VERSION_HEADER
from cargohold.api.oci.ranges import parse_blob_range
from cargohold.api.oci.services import OciServices
from cargohold.models import Digest
from cargohold.registry.addressing import ImageAddress

BLOB_CONTENT_TYPE = "application/octet-stream"


async def get_blob(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    digest = Digest.parse(argument)
    info = await services.blobs.stat(address, digest)
    range_header = request.headers.get("Range")
    if range_header is not None:
        parse_blob_range(range_header, info.size)
    headers = {
        **API_VERSION_HEADER,
        "Docker-Content-Digest": str(digest),
        "Content-Type": BLOB_CONTENT_TYPE,
        "Cache-Control": "max-age=31536000",
    }
    if info.path is None:
        raise web.HTTPInternalServerError(reason="blob store without local files")
    return web.FileResponse(info.path, headers=headers)


async def delete_blob(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    digest = Digest.parse(argument)
    await services.blobs.delete(address, digest)
    return web.Response(status=202, headers={**API_VERSION_HEADER, "Content-Length": "0"})
