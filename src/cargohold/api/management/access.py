"""Who may call the management API, and what each operation lets them do (docs/access.md).

Authentication: ``Authorization: Basic`` (a password or an access token) or ``Authorization: Bearer <access
token>``; the ``Authenticator`` checks them (constant time, rate-limited per client address and user). A
registry JWT (the /v2 token flow's) never works here: it is scoped to pulls and pushes. No credentials, or
credentials that do not work, raise ``UnauthorizedError`` (401 with ``WWW-Authenticate: Basic
realm="cargohold"``); a signed-in caller who may not do what they ask gets ``DeniedError`` (403).

Authorization is one ``Access`` rule per operation: ``MANAGE`` (``manage`` on the ``{repo}`` of the path),
``ADMIN`` (a global admin), ``OWNER`` (the ``{user}`` of the path, or a global admin) and ``SIGNED_IN``
(anyone signed in; the handler filters what it shows). A caller who may not manage a repository gets 403
whether it exists or not, so the API is no oracle for private repository names.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from aiohttp import web

from cargohold.api.auth.credentials import principal_of
from cargohold.auth.policy import allowed, may_manage_users
from cargohold.auth.principal import Action, Principal
from cargohold.errors import DeniedError, UnauthorizedError
from cargohold.models import Repository, Visibility

REALM: Final = "cargohold"
CHALLENGE: Final = f'Basic realm="{REALM}"'
"""The ``WWW-Authenticate`` value of every 401 of the management API (and /metrics)."""


class Access(Enum):
    """Who may call an operation."""

    SIGNED_IN = "any signed-in user"
    MANAGE = "a global admin, or a user with the admin permission on the repository"
    OWNER = "the user named in the path, or a global admin"
    ADMIN = "a global admin"


async def signed_in(request: web.Request) -> Principal:
    """The signed-in principal of ``request``: ``UnauthorizedError`` without working credentials (or with
    a registry JWT), ``TooManyRequestsError`` (429 with ``Retry-After``) after too many failures."""
    principal = await principal_of(request)
    if principal.anonymous:
        raise UnauthorizedError("authentication required: sign in with a password or an access token")
    if principal.token_scopes is not None:  # a registry JWT is for /v2 pulls and pushes only
        raise UnauthorizedError("invalid credentials")
    return principal


def may_manage(principal: Principal, repository: str, visibility: Visibility = Visibility.PUBLIC) -> bool:
    """True when ``principal`` may manage the repository called ``repository`` (existing or not)."""
    return allowed(principal, Repository(name=repository, visibility=visibility), Action.MANAGE)


def authorize(access: Access, principal: Principal, parameters: dict[str, str]) -> None:
    """``DeniedError`` unless ``principal`` may call an operation with ``access`` and these path
    parameters."""
    if access is Access.SIGNED_IN:
        return
    if access is Access.MANAGE:
        if may_manage(principal, parameters["repo"]):
            return
        raise DeniedError("you may not manage this repository")
    if access is Access.OWNER and principal.name == parameters["user"]:
        return
    if may_manage_users(principal):
        return
    raise DeniedError("only an administrator may do this")
