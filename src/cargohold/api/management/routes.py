"""The /api/v1 route table: every management operation once, registered on the aiohttp router and described
in the OpenAPI document from the same entries.

Image names hold slashes, so their routes match ``{image:.+}``; the tag route comes before the image route,
so ``DELETE …/images/<name>/tags/<tag>`` is always the tag (an image whose name ends in ``/tags/<x>`` is
deleted with the image route and its name percent-encoded).

Each entry says who may call it (``Access``): repository operations need ``manage`` on that repository;
creating and deleting repositories, managing users and collecting garbage a global admin; a user's own
tokens (and password) that user; ``/me`` and the repository list anyone signed in (the list shows what the
caller may manage). Repository and proxy resources answer with an ``ETag``; their changes honour
``If-Match`` (``tagged``/``conditional``; ``cargohold.registry.etags``).
"""

from __future__ import annotations

import functools
from typing import Final

from aiohttp import web

from cargohold.api.management import content, gc, repositories, storage, users, warm
from cargohold.api.management.access import Access
from cargohold.api.management.errors import API_PREFIX
from cargohold.api.management.gc_schemas import GcRequest, GcResult
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
from cargohold.api.management.storage_schemas import RepositoryBreakdown, StoreStorage
from cargohold.api.management.user_schemas import (
    CreatedToken,
    GrantRequest,
    Me,
    Token,
    TokenCreate,
    User,
    UserCreate,
    UserUpdate,
)
from cargohold.api.management.warm_schemas import WarmEvent, WarmRequest

REPO: Final = f"{API_PREFIX}/repositories/{{repo}}"
PROXY: Final = f"{REPO}/proxies/{{proxy}}"
IMAGE: Final = f"{REPO}/images/{{image}}"
SLASHED: Final = frozenset({"image"})
REPO_TAG: Final = "repositories"
PROXY_TAG: Final = "proxies"
CONTENT_TAG: Final = "content"
USER: Final = f"{API_PREFIX}/users/{{user}}"
USER_TAG: Final = "users"
GC_TAG: Final = "storage"
CHANGE_ERRORS: Final = (404, 409)
SIGNED_IN, MANAGE, OWNER, ADMIN = Access.SIGNED_IN, Access.MANAGE, Access.OWNER, Access.ADMIN

OPERATIONS: Final[tuple[Operation, ...]] = (
    # repositories
    Operation("GET", f"{API_PREFIX}/repositories", "listRepositories", "List repositories", REPO_TAG,
              repositories.list_repositories, access=SIGNED_IN, response=Repository, many=True),
    Operation("POST", f"{API_PREFIX}/repositories", "createRepository", "Create a repository", REPO_TAG,
              repositories.create_repository, access=ADMIN, status=201, response=Repository,
              body=RepositoryCreate, errors=(409,), tagged=True,
              description="A duplicate name (or proxy name) answers 409."),
    Operation("GET", REPO, "getRepository", "Show a repository", REPO_TAG,
              repositories.get_repository, access=MANAGE, response=Repository, errors=(404,), tagged=True),
    Operation("PATCH", REPO, "updateRepository", "Change a repository", REPO_TAG,
              repositories.update_repository, access=MANAGE, response=Repository, body=RepositoryUpdate,
              errors=CHANGE_ERRORS, description="A repository declared in the config file answers 409.",
              tagged=True, conditional=True),
    Operation("DELETE", REPO, "deleteRepository", "Delete a repository with its local and cached content",
              REPO_TAG, repositories.delete_repository, access=ADMIN, status=204, errors=CHANGE_ERRORS,
              conditional=True),
    # proxies
    Operation("GET", f"{REPO}/proxies", "listProxies", "List the proxies of a repository in priority order",
              PROXY_TAG, repositories.list_proxies, access=MANAGE, response=Proxy, many=True, errors=(404,),
              tagged=True),
    Operation("POST", f"{REPO}/proxies", "addProxy", "Add a proxy (at the end, or at a position)", PROXY_TAG,
              repositories.add_proxy, access=MANAGE, status=201, response=Proxy, body=ProxyCreate,
              errors=CHANGE_ERRORS, tagged=True, conditional=True),
    Operation("POST", f"{REPO}/proxies-test", "testUnsavedProxy", "Test proxy settings without saving them",
              PROXY_TAG, repositories.test_unsaved_proxy, access=MANAGE, response=ProbeResult,
              body=ProxyProbeRequest, errors=(404,)),
    Operation("GET", PROXY, "getProxy", "Show a proxy", PROXY_TAG,
              repositories.get_proxy, access=MANAGE, response=Proxy, errors=(404,), tagged=True),
    Operation("PATCH", PROXY, "updateProxy", "Change a proxy (a missing password keeps the stored one)",
              PROXY_TAG, repositories.update_proxy, access=MANAGE, response=Proxy, body=ProxyUpdate,
              errors=CHANGE_ERRORS, tagged=True, conditional=True),
    Operation("DELETE", PROXY, "removeProxy", "Remove a proxy", PROXY_TAG,
              repositories.remove_proxy, access=MANAGE, status=204, errors=CHANGE_ERRORS, conditional=True),
    Operation("POST", f"{PROXY}/move", "moveProxy", "Move a proxy to a position (the others shift)",
              PROXY_TAG, repositories.move_proxy, access=MANAGE, response=Proxy, many=True, body=Move,
              errors=CHANGE_ERRORS, tagged=True, conditional=True),
    Operation("POST", f"{PROXY}/activate", "activateProxy", "Activate a proxy", PROXY_TAG,
              repositories.activate_proxy, access=MANAGE, response=Proxy, errors=CHANGE_ERRORS, tagged=True,
              conditional=True),
    Operation("POST", f"{PROXY}/deactivate", "deactivateProxy", "Deactivate a proxy", PROXY_TAG,
              repositories.deactivate_proxy, access=MANAGE, response=Proxy, errors=CHANGE_ERRORS,
              tagged=True, conditional=True),
    Operation("POST", f"{PROXY}/test", "testProxy", "Test a proxy: reach, TLS, auth flow, latency, an image",
              PROXY_TAG, repositories.test_proxy, access=MANAGE, response=ProbeResult, body=ProbeRequest,
              body_required=False, errors=(404,)),
    # content
    Operation("GET", f"{REPO}/images", "listImages", "List images and tags", CONTENT_TAG,
              content.list_images, access=MANAGE, response=Image, many=True, errors=(404,)),
    Operation("DELETE", f"{IMAGE}/tags/{{tag}}", "deleteTag", "Delete a tag", CONTENT_TAG,
              content.delete_tag, access=MANAGE, status=204, errors=(404,), slashed=SLASHED),
    Operation("GET", IMAGE, "getImage", "Show an image and its tags", CONTENT_TAG,
              content.get_image, access=MANAGE, response=Image, errors=(404,), slashed=SLASHED),
    Operation("DELETE", IMAGE, "deleteImage", "Delete an image with all its tags and manifests", CONTENT_TAG,
              content.delete_image, access=MANAGE, status=204, errors=(404,), slashed=SLASHED),
    Operation("POST", f"{REPO}/purge", "purgeCached", "Purge cached content (of the repository or one proxy)",
              CONTENT_TAG, content.purge, access=MANAGE, response=PurgeResult, body=PurgeRequest,
              body_required=False, errors=(404,)),
    Operation("GET", f"{REPO}/stats", "repositoryStats", "Statistics of a repository and its proxies",
              CONTENT_TAG, content.repository_stats, access=MANAGE, response=RepositoryStats, errors=(404,)),
    Operation("POST", f"{REPO}/warm", "warmCache", "Fetch images into the cache ahead of time",
              CONTENT_TAG, warm.warm, access=MANAGE, response=WarmEvent, streams=True, body=WarmRequest,
              errors=(404,),
              description="Streams one event per line while it runs: each manifest found, each blob "
              "started, its progress and outcome (cached, fetched, failed), and a summary last. A second "
              "run reports everything cached."),
    # storage
    Operation("GET", f"{API_PREFIX}/storage", "storageUsage", "Bytes held per repository (local and cached), "
              "the store's total and the disk's free space", GC_TAG, storage.store, access=ADMIN,
              response=StoreStorage,
              description="A blob several images hold counts once per repository and once in the total."),
    Operation("GET", f"{REPO}/storage", "repositoryStorage", "A repository's storage: local and cached "
              "bytes, its biggest and least recently pulled images", GC_TAG, storage.repository,
              access=MANAGE, response=RepositoryBreakdown, errors=(404,)),
    Operation("POST", f"{API_PREFIX}/gc", "collectGarbage", "Remove unreferenced blobs, abandoned uploads "
              "and orphan spools now (or only report them)", GC_TAG, gc.collect, access=ADMIN,
              response=GcResult, body=GcRequest, body_required=False, errors=(409,),
              description="Answers what went and the bytes freed; 409 while another collection runs."),
    # users, grants, access tokens
    Operation("GET", f"{API_PREFIX}/me", "whoAmI", "Who the credentials are", USER_TAG,
              users.me, access=SIGNED_IN, response=Me),
    Operation("GET", f"{API_PREFIX}/users", "listUsers", "List users", USER_TAG,
              users.list_users, access=ADMIN, response=User, many=True),
    Operation("POST", f"{API_PREFIX}/users", "createUser", "Create a user", USER_TAG,
              users.create_user, access=ADMIN, status=201, response=User, body=UserCreate, errors=(409,),
              description="A name already taken answers 409."),
    Operation("GET", USER, "getUser", "Show a user with their grants", USER_TAG,
              users.get_user, access=OWNER, response=User, errors=(404,)),
    Operation("PATCH", USER, "updateUser", "Change a user's password or admin role", USER_TAG,
              users.update_user, access=OWNER, response=User, body=UserUpdate, errors=CHANGE_ERRORS,
              description="Users may change their own password; only an administrator changes is_admin. "
              "Nobody takes the admin role from the user they are signed in as (409)."),
    Operation("DELETE", USER, "deleteUser", "Delete a user with their grants and access tokens", USER_TAG,
              users.delete_user, access=ADMIN, status=204, errors=CHANGE_ERRORS,
              description="Nobody deletes the user they are signed in as (409)."),
    Operation("PUT", f"{USER}/grants/{{repo}}", "grantPermission", "Set a user's permission on a repository",
              USER_TAG, users.grant, access=ADMIN, response=User, body=GrantRequest, errors=(404,)),
    Operation("DELETE", f"{USER}/grants/{{repo}}", "revokePermission", "Take a user's permission on a "
              "repository away", USER_TAG, users.revoke_grant, access=ADMIN, status=204, errors=(404,)),
    Operation("GET", f"{USER}/tokens", "listTokens", "List a user's access tokens (never their secrets)",
              USER_TAG, users.list_tokens, access=OWNER, response=Token, many=True, errors=(404,)),
    Operation("POST", f"{USER}/tokens", "createToken", "Create an access token: its secret is shown once",
              USER_TAG, users.create_token, access=OWNER, status=201, response=CreatedToken, body=TokenCreate,
              errors=CHANGE_ERRORS, description="A name the user already gave a token answers 409."),
    Operation("DELETE", f"{USER}/tokens/{{token}}", "revokeToken", "Revoke an access token", USER_TAG,
              users.revoke_token, access=OWNER, status=204, errors=(404,)),
)  # fmt: skip

OPENAPI_PATH: Final = f"{API_PREFIX}/openapi.json"


@functools.cache
def _openapi_bytes() -> bytes:
    """The OpenAPI document, built on its first request (about 0.1 s of CPU a start need not spend)."""
    return build_document(OPERATIONS)


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=_openapi_bytes(), content_type="application/json")


def add_routes(app: web.Application, services: ManagementServices) -> None:
    """Serve the management API (and its OpenAPI document) from ``services``."""
    app[SERVICES_KEY] = services
    app.router.add_get(OPENAPI_PATH, openapi_document)
    for operation in OPERATIONS:
        app.router.add_route(operation.method, operation.route_path, endpoint(operation))
