"""Content discovery: tags/list, _catalog (both paginated with n, last and a Link header; the catalog holds
only what the caller may pull) and referrers."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from aiohttp import web

from cargohold.api.oci.access import filtered_catalog
from cargohold.api.oci.errors import API_VERSION_HEADER
from cargohold.api.oci.services import OciServices
from cargohold.auth.principal import Principal
from cargohold.errors import PaginationInvalidError
from cargohold.models import Digest, ManifestRecord, MediaType, Page
from cargohold.registry.addressing import ImageAddress

MAX_PAGE = 10_000


def _pagination(request: web.Request) -> tuple[int | None, str | None]:
    raw_n = request.query.get("n")
    n: int | None = None
    if raw_n is not None:
        if not raw_n.isdigit() or len(raw_n) > 9:
            raise PaginationInvalidError(f"n must be a non-negative integer, not {raw_n[:40]!r}")
        n = min(int(raw_n), MAX_PAGE)
    return n, request.query.get("last") or None


def _json(payload: object, headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=200, body=json.dumps(payload).encode(), headers={**headers, "Content-Type": "application/json"}
    )


def _link(path: str, page: Page, n: int | None) -> dict[str, str]:
    if not page.more or not page.items:
        return {}
    query = urlencode({"n": n if n is not None else len(page.items), "last": page.items[-1]})
    return {"Link": f'<{path}?{query}>; rel="next"'}


async def list_tags(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    n, last = _pagination(request)
    page = await services.manifests.tags(address, n, last)
    headers = {**API_VERSION_HEADER, **_link(f"/v2/{address.name}/tags/list", page, n)}
    return _json({"name": address.name, "tags": page.items}, headers)


async def catalog(request: web.Request, services: OciServices, principal: Principal) -> web.StreamResponse:
    """The image names the caller may pull, paginated over that filtered list."""
    n, last = _pagination(request)
    page = await filtered_catalog(
        services.manifests.catalog, services.directory.repository, principal, n, last
    )
    headers = {**API_VERSION_HEADER, **_link("/v2/_catalog", page, n)}
    return _json({"repositories": page.items}, headers)


def _descriptor(record: ManifestRecord) -> dict[str, object]:
    descriptor: dict[str, object] = {
        "mediaType": record.media_type,
        "digest": str(record.digest),
        "size": record.size,
    }
    if record.artifact_type:
        descriptor["artifactType"] = record.artifact_type
    if record.annotations:
        descriptor["annotations"] = record.annotations
    return descriptor


async def list_referrers(
    request: web.Request, services: OciServices, address: ImageAddress, argument: str
) -> web.StreamResponse:
    subject = Digest.parse(argument)
    artifact_type = request.query.get("artifactType") or None
    records = await services.manifests.referrers(address, subject, artifact_type)
    headers = dict(API_VERSION_HEADER)
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_INDEX.value,
        "manifests": [_descriptor(record) for record in records],
    }
    return web.Response(
        status=200,
        body=json.dumps(index).encode(),
        headers={**headers, "Content-Type": MediaType.OCI_INDEX.value},
    )
