"""GET, HEAD, PUT and DELETE of /v2/<name>/manifests/<reference>.

A pull (GET or HEAD) by a reference that is not a valid tag finds nothing: no manifest can ever be tagged
so, and the spec answers a manifest that is not found with 404 MANIFEST_UNKNOWN (its conformance suite pulls
``.INVALID_MANIFEST_NAME`` and expects exactly that). Such a reference is never asked of a proxy. A PUT by
it is still refused as invalid (400), and a malformed digest stays DIGEST_INVALID.
"""

from __future__ import annotations

from aiohttp import web

from cargohold.api.oci.bodies import request_body
from cargohold.api.oci.errors import API_VERSION_HEADER, CACHE_OUTCOME_KEY, UPSTREAM_HEADER
from cargohold.api.oci.services import OciServices
from cargohold.errors import ManifestTooLargeError, ManifestUnknownError, TagInvalidError
from cargohold.models import MAX_MANIFEST_BYTES, Reference
from cargohold.registry.addressing import ImageAddress


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    if request.content_length is not None and request.content_length > limit:
        raise ManifestTooLargeError(f"manifest is {request.content_length} bytes; the limit is {limit}")
    parts: list[bytes] = []
    received = 0
    async for chunk in request_body(request, 64 * 1024):
        received += len(chunk)
        if received > limit:
            raise ManifestTooLargeError(f"manifest exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def pulled_reference(address: ImageAddress, argument: str) -> Reference:
    """The reference of a GET or HEAD; one that no tag can match is an unknown manifest, not a bad request."""
    try:
        return Reference.parse(argument)
    except TagInvalidError:
        raise ManifestUnknownError(
            f"manifest {argument[:140]!r} is unknown to {address.name}: it is not a valid tag or digest"
        ) from None


async def get_manifest(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    reference = pulled_reference(address, argument)
    manifest = await services.pull.manifest(address, reference, head=request.method == "HEAD")
    request[CACHE_OUTCOME_KEY] = "miss" if manifest.fetched else "hit"
    headers = {
        **API_VERSION_HEADER,
        "Content-Type": manifest.record.media_type,
        "Docker-Content-Digest": str(manifest.record.digest),
        "Etag": f'"{manifest.record.digest}"',
    }
    if manifest.proxy_name is not None:
        headers[UPSTREAM_HEADER] = manifest.proxy_name
    if manifest.stale:
        headers["Warning"] = '110 cargohold "Response is Stale: an upstream failed before one answered"'
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(manifest.content))
        return web.Response(status=200, headers=headers)
    return web.Response(status=200, body=manifest.content, headers=headers)


async def put_manifest(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    reference = Reference.parse(argument)
    content = await read_bounded(request, MAX_MANIFEST_BYTES)
    content_type = request.headers.get("Content-Type", "")
    pushed = await services.manifests.put(address, reference, content, content_type)
    headers = {
        **API_VERSION_HEADER,
        "Location": f"/v2/{address.name}/manifests/{pushed.digest}",
        "Docker-Content-Digest": str(pushed.digest),
        "Content-Length": "0",
    }
    if pushed.subject is not None:
        headers["OCI-Subject"] = str(pushed.subject)
    return web.Response(status=201, headers=headers)


async def delete_manifest(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    await services.manifests.delete(address, Reference.parse(argument))
    return web.Response(status=202, headers={**API_VERSION_HEADER, "Content-Length": "0"})
