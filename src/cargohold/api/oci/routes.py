"""The /v2 router: one catch-all route, dispatched on (endpoint, method) after the path is parsed.

Names hold slashes, so aiohttp's router cannot split them reliably; ``paths.parse_v2_path`` does, and the
table below picks the handler. Before any handler runs, the caller is authenticated and the action the
request needs is checked (``cargohold.api.oci.access``). Domain errors become the spec's JSON envelope
here, in one place; every 401 carries a ``WWW-Authenticate`` challenge naming the token endpoint
(``cargohold.api.oci.token_endpoint``, routed here too, before the catch-all). Only a caller who may manage
the repository sees how its proxies failed; anyone else sees what each did (``errors.for_outsider``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from cargohold.api.auth.credentials import principal_of
from cargohold.api.auth.setup import HttpAuth
from cargohold.api.oci import blobs, discovery, manifests, uploads
from cargohold.api.oci.access import (
    ChallengedError,
    Challenger,
    check_access,
    refuse_unknown,
    required_action,
)
from cargohold.api.oci.errors import API_VERSION_HEADER, error_response, for_outsider, plain_error
from cargohold.api.oci.paths import Endpoint, parse_v2_path
from cargohold.api.oci.services import OciServices
from cargohold.api.oci.token_endpoint import TokenIssuer, add_token_routes
from cargohold.auth.policy import allowed
from cargohold.auth.principal import Action, Principal
from cargohold.errors import NameUnknownError, RegistryError, UnauthorizedError
from cargohold.registry.addressing import ImageAddress

log = logging.getLogger(__name__)

Handler = Callable[[web.Request, OciServices, ImageAddress, str], Awaitable[web.StreamResponse]]

HANDLERS: Final[dict[tuple[Endpoint, str], Handler]] = {
    (Endpoint.MANIFEST, "GET"): manifests.get_manifest,
    (Endpoint.MANIFEST, "HEAD"): manifests.get_manifest,
    (Endpoint.MANIFEST, "PUT"): manifests.put_manifest,
    (Endpoint.MANIFEST, "DELETE"): manifests.delete_manifest,
    (Endpoint.BLOB, "GET"): blobs.get_blob,
    (Endpoint.BLOB, "HEAD"): blobs.get_blob,
    (Endpoint.BLOB, "DELETE"): blobs.delete_blob,
    (Endpoint.UPLOADS, "POST"): uploads.start_upload,
    (Endpoint.UPLOAD, "GET"): uploads.upload_status,
    (Endpoint.UPLOAD, "PATCH"): uploads.patch_upload,
    (Endpoint.UPLOAD, "PUT"): uploads.put_upload,
    (Endpoint.UPLOAD, "DELETE"): uploads.cancel_upload,
    (Endpoint.TAGS, "GET"): discovery.list_tags,
    (Endpoint.REFERRERS, "GET"): discovery.list_referrers,
}

SERVICES_KEY: Final = web.AppKey("oci_services", OciServices)
CHALLENGER_KEY: Final = web.AppKey("oci_challenger", Challenger)
NAMESPACE_KEY: Final = web.RequestKey("oci_namespace", str)


async def echo_namespace(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Answer a request that named an upstream host (``ns`` or a host prefix) with ``OCI-Namespace``."""
    namespace = request.get(NAMESPACE_KEY)
    if namespace is not None:
        response.headers["OCI-Namespace"] = namespace


async def dispatch(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES_KEY]
    principal: Principal | None = None
    address: ImageAddress | None = None
    try:
        path = parse_v2_path(request.rel_url.raw_path)
        principal = await principal_of(request)
        if path.endpoint is Endpoint.BASE:
            if principal.anonymous:
                raise UnauthorizedError("authentication required")
            return web.json_response({}, headers=API_VERSION_HEADER)
        if path.endpoint is Endpoint.CATALOG:
            if request.method not in ("GET", "HEAD"):
                return _not_allowed(request)
            return await discovery.catalog(request, services, principal)
        handler = HANDLERS.get((path.endpoint, request.method))
        action = required_action(path.endpoint, request.method)
        if handler is None or action is None:
            return _not_allowed(request)
        try:
            address = await services.names.resolve(path.name, request.query.get("ns"))
        except NameUnknownError:
            refuse_unknown(request, request.app[CHALLENGER_KEY], principal, path.name, action)
            raise
        if address.namespace is not None:
            request[NAMESPACE_KEY] = address.namespace
        check_access(request, request.app[CHALLENGER_KEY], principal, address, action)
        return await handler(request, services, address, path.argument)
    except RegistryError as error:
        log.info("%s %s -> %s", request.method, request.rel_url.raw_path[:300], error.message)
        if principal is None or address is None or not allowed(principal, address.repository, Action.MANAGE):
            error = for_outsider(error)
        response = error_response(error, request.method)
        if isinstance(error, UnauthorizedError):
            challenge = (
                error.challenge
                if isinstance(error, ChallengedError)
                else request.app[CHALLENGER_KEY].challenge(request)
            )
            response.headers["WWW-Authenticate"] = challenge
        return response


def _not_allowed(request: web.Request) -> web.Response:
    return plain_error(405, "UNSUPPORTED", f"{request.method} is not supported here", request.method)


def add_routes(app: web.Application, services: OciServices, auth: HttpAuth) -> None:
    """Route ``/v2/token``, then the /v2 catch-all; 401s name ``auth.public_url``'s token endpoint."""
    add_token_routes(app, TokenIssuer(auth.tokens, services.names))
    app[SERVICES_KEY] = services
    app[CHALLENGER_KEY] = Challenger(auth.public_url)
    app.on_response_prepare.append(echo_namespace)
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
