"""The /api/v1 route table: every management operation once, registered on the aiohttp router and described
in the OpenAPI document from the same entries.

Image names hold slashes, so their routes match ``{image:.+}``; the tag route comes before the image route,
so ``DELETE …/images/<name>/tags/<tag>`` is always the tag (an image whose name ends in ``/tags/<x>`` is
deleted with the image route and its name percent-encoded).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from cargohold.api.management import content, repositories
from cargohold.api.management.errors import API_PREFIX
from cargohold.api.management.openapi import build_document
from cargohold.api.management.operation import SERVICES_KEY, Operation, endpoint
from cargohold.api.management.schemas import (
    Image,
    Move,
    ProbeRequest,
    ProbeResult,
    Proxy,
    ProxyCreate,
    ProxyProbeRequest,
    ProxyUpdate,
    PurgeRequest,
    PurgeResult,
    Repository,
    RepositoryCreate,
    RepositoryStats,
    RepositoryUpdate,
)
from cargohold.api.management.services import ManagementServices

REPO: Final = f"{API_PREFIX}/repositories/{{repo}}"
PROXY: Final = f"{REPO}/proxies/{{proxy}}"
IMAGE: Final = f"{REPO}/images/{{image}}"
SLASHED: Final = frozenset({"image"})
REPO_TAG: Final = "repositories"
PROXY_TAG: Final = "proxies"
CONTENT_TAG: Final = "content"
CHANGE_ERRORS: Final = (404, 409)

OPERATIONS: Final[tuple[Operation, ...]] = (
    # repositories
    Operation("GET", f"{API_PREFIX}/repositories", "listRepositories", "List repositories", REPO_TAG,
              repositories.list_repositories, response=Repository, many=True),
    Operation("POST", f"{API_PREFIX}/repositories", "createRepository", "Create a repository", REPO_TAG,
              repositories.create_repository, status=201, response=Repository, body=RepositoryCreate,
              errors=(409,), description="A duplicate name (or proxy name) answers 409."),
    Operation("GET", REPO, "getRepository", "Show a repository", REPO_TAG,
              repositories.get_repository, response=Repository, errors=(404,)),
    Operation("PATCH", REPO, "updateRepository", "Change a repository", REPO_TAG,
              repositories.update_repository, response=Repository, body=RepositoryUpdate,
              errors=CHANGE_ERRORS, description="A repository declared in the config file answers 409."),
    Operation("DELETE", REPO, "deleteRepository", "Delete a repository with its local and cached content",
              REPO_TAG, repositories.delete_repository, status=204, errors=CHANGE_ERRORS),
    # proxies
    Operation("GET", f"{REPO}/proxies", "listProxies", "List the proxies of a repository in priority order",
              PROXY_TAG, repositories.list_proxies, response=Proxy, many=True, errors=(404,)),
    Operation("POST", f"{REPO}/proxies", "addProxy", "Add a proxy (at the end, or at a position)", PROXY_TAG,
              repositories.add_proxy, status=201, response=Proxy, body=ProxyCreate, errors=CHANGE_ERRORS),
    Operation("POST", f"{REPO}/proxies-test", "testUnsavedProxy", "Test proxy settings without saving them",
              PROXY_TAG, repositories.test_unsaved_proxy, response=ProbeResult, body=ProxyProbeRequest,
              errors=(404,)),
    Operation("GET", PROXY, "getProxy", "Show a proxy", PROXY_TAG,
              repositories.get_proxy, response=Proxy, errors=(404,)),
    Operation("PATCH", PROXY, "updateProxy", "Change a proxy (a missing password keeps the stored one)",
              PROXY_TAG, repositories.update_proxy, response=Proxy, body=ProxyUpdate, errors=CHANGE_ERRORS),
    Operation("DELETE", PROXY, "removeProxy", "Remove a proxy", PROXY_TAG,
              repositories.remove_proxy, status=204, errors=CHANGE_ERRORS),
    Operation("POST", f"{PROXY}/move", "moveProxy", "Move a proxy to a position (the others shift)",
              PROXY_TAG, repositories.move_proxy, response=Proxy, many=True, body=Move, errors=CHANGE_ERRORS),
    Operation("POST", f"{PROXY}/activate", "activateProxy", "Activate a proxy", PROXY_TAG,
              repositories.activate_proxy, response=Proxy, errors=CHANGE_ERRORS),
    Operation("POST", f"{PROXY}/deactivate", "deactivateProxy", "Deactivate a proxy", PROXY_TAG,
              repositories.deactivate_proxy, response=Proxy, errors=CHANGE_ERRORS),
    Operation("POST", f"{PROXY}/test", "testProxy", "Test a proxy: reach, TLS, auth flow, latency, an image",
              PROXY_TAG, repositories.test_proxy, response=ProbeResult, body=ProbeRequest,
              body_required=False, errors=(404,)),
    # content
    Operation("GET", f"{REPO}/images", "listImages", "List images and tags", CONTENT_TAG,
              content.list_images, response=Image, many=True, errors=(404,)),
    Operation("DELETE", f"{IMAGE}/tags/{{tag}}", "deleteTag", "Delete a tag", CONTENT_TAG,
              content.delete_tag, status=204, errors=(404,), slashed=SLASHED),
    Operation("GET", IMAGE, "getImage", "Show an image and its tags", CONTENT_TAG,
              content.get_image, response=Image, errors=(404,), slashed=SLASHED),
    Operation("DELETE", IMAGE, "deleteImage", "Delete an image with all its tags and manifests", CONTENT_TAG,
              content.delete_image, status=204, errors=(404,), slashed=SLASHED),
    Operation("POST", f"{REPO}/purge", "purgeCached", "Purge cached content (of the repository or one proxy)",
              CONTENT_TAG, content.purge, response=PurgeResult, body=PurgeRequest, body_required=False,
              errors=(404,)),
    Operation("GET", f"{REPO}/stats", "repositoryStats", "Statistics of a repository and its proxies",
              CONTENT_TAG, content.repository_stats, response=RepositoryStats, errors=(404,)),
)  # fmt: skip

OPENAPI_PATH: Final = f"{API_PREFIX}/openapi.json"
OPENAPI_KEY: Final = web.AppKey("management_openapi", bytes)


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_KEY], content_type="application/json")


def add_routes(app: web.Application, services: ManagementServices) -> None:
    """Serve the management API (and its OpenAPI document) from ``services``."""
    app[SERVICES_KEY] = services
    app[OPENAPI_KEY] = build_document(OPERATIONS)
    app.router.add_get(OPENAPI_PATH, openapi_document)
    for operation in OPERATIONS:
        app.router.add_route(operation.method, operation.route_path, endpoint(operation))
