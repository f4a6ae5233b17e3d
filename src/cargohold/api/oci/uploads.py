"""Blob uploads under /v2/<name>/blobs/uploads/: start, mount, monolithic, chunked, status, cancel.

A session belongs to the principal that opened it: every later request on it passes the caller's name as
the owner, and another caller's request is answered BLOB_UPLOAD_UNKNOWN. A cross-repository mount needs
``pull`` on the source too; without it the request opens a normal upload session, as the spec allows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from cargohold.api.auth.credentials import known_principal
from cargohold.api.oci import bodies
from cargohold.api.oci.errors import API_VERSION_HEADER
from cargohold.api.oci.ranges import parse_content_range
from cargohold.api.oci.services import OciServices
from cargohold.auth.policy import allowed
from cargohold.auth.principal import Action
from cargohold.errors import BlobUploadInvalidError, NameInvalidError, NameUnknownError
from cargohold.models import Digest, Upload
from cargohold.registry.addressing import ImageAddress


def request_body(request: web.Request) -> AsyncIterator[bytes]:
    return bodies.request_body(request)


def _owner(request: web.Request) -> str | None:
    """Who the session belongs to: the caller's user name (None only for an anonymous caller)."""
    return known_principal(request).name


def _upload_headers(address: ImageAddress, upload: Upload) -> dict[str, str]:
    return {
        **API_VERSION_HEADER,
        "Location": f"/v2/{address.name}/blobs/uploads/{upload.id}",
        "Range": f"0-{max(upload.offset - 1, 0)}",
        "Docker-Upload-UUID": upload.id,
        "Content-Length": "0",
    }


def _created(address: ImageAddress, digest: Digest) -> web.Response:
    headers = {
        **API_VERSION_HEADER,
        "Location": f"/v2/{address.name}/blobs/{digest}",
        "Docker-Content-Digest": str(digest),
        "Content-Length": "0",
    }
    return web.Response(status=201, headers=headers)


def _declared_length(request: web.Request) -> int | None:
    return request.content_length


def _chunk_range(request: web.Request) -> tuple[int | None, int | None]:
    """The start offset and length a chunk declares (Content-Range, Content-Length)."""
    length = _declared_length(request)
    header = request.headers.get("Content-Range")
    if header is None:
        return None, length
    start, end = parse_content_range(header)
    if length is not None and length != end - start + 1:
        raise BlobUploadInvalidError(
            f"Content-Range {header!r} spans {end - start + 1} bytes but Content-Length is {length}"
        )
    return start, end - start + 1


async def start_upload(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    query = request.query
    mount, source = query.get("mount"), query.get("from")
    if mount is not None and source is not None:
        digest = Digest.parse(mount)
        try:
            source_address = await services.names.resolve(source)
        except (NameInvalidError, NameUnknownError):
            source_address = None
        if (
            source_address is not None
            and allowed(known_principal(request), source_address.repository, Action.PULL, name=source)
            and await services.blobs.mount(address, source_address, digest)
        ):
            return _created(address, digest)
    elif "digest" in query:
        digest = Digest.parse(query["digest"])
        await services.uploads.monolithic(
            address, digest, request_body(request), _declared_length(request), _owner(request)
        )
        return _created(address, digest)
    upload = await services.uploads.start(address, _owner(request))
    return web.Response(status=202, headers=_upload_headers(address, upload))


async def upload_status(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    upload = await services.uploads.status(address, argument, _owner(request))
    return web.Response(status=204, headers=_upload_headers(address, upload))


async def patch_upload(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    start, length = _chunk_range(request)
    upload = await services.uploads.append(
        address, argument, request_body(request), start, length, _owner(request)
    )
    return web.Response(status=202, headers=_upload_headers(address, upload))


async def put_upload(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    if "digest" not in request.query:
        raise BlobUploadInvalidError("the final PUT must name the blob's digest (?digest=)")
    digest = Digest.parse(request.query["digest"])
    start, length = _chunk_range(request)
    has_body = request.body_exists and length != 0
    body = request_body(request) if has_body else None
    await services.uploads.finish(
        address, argument, digest, body, start, length if has_body else None, _owner(request)
    )
    return _created(address, digest)


async def cancel_upload(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    await services.uploads.cancel(address, argument, _owner(request))
    return web.Response(status=204, headers={**API_VERSION_HEADER, "Content-Length": "0"})
