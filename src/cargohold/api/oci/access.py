"""Who may do what under /v2: the action each endpoint and method needs, the answer when it is not allowed,
and the filtering of ``_catalog``.

- GET/HEAD of manifests, blobs, tags and referrers need ``pull``; uploads and PUT of manifests ``push``;
  DELETE ``delete`` (docs/access.md).
- Not allowed and anonymous: 401 ``UNAUTHORIZED`` with ``WWW-Authenticate: Bearer
  realm="<public_url>/v2/token",service="cargohold",scope="repository:<name>:<actions>"``, which sends
  Docker clients to the token endpoint.
  A registry JWT lacking the scope: the same 401 with ``error="insufficient_scope"``. Anyone else: 403
  ``DENIED``. The check runs before any handler, so an anonymous caller never makes cargohold fetch from a
  proxy into a private repository.
- A name no repository answers to is refused like a private repository to everyone but a global admin
  (who gets 404 ``NAME_UNKNOWN``), so the answer does not tell which private repositories exist.
- ``/v2/`` answers 401 with the bare challenge to a caller without credentials.
- ``_catalog`` lists only the names of repositories the caller may pull from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, NoReturn

from aiohttp import web

from cargohold.api.oci.paths import Endpoint
from cargohold.auth.policy import allowed
from cargohold.auth.principal import Action, Principal
from cargohold.errors import DeniedError, UnauthorizedError
from cargohold.models import Page, Repository
from cargohold.registry.addressing import ImageAddress

SERVICE: Final = "cargohold"
"""The ``service`` of challenges and of the token endpoint."""

_ACTIONS: Final[dict[tuple[Endpoint, str], Action]] = {
    (Endpoint.MANIFEST, "GET"): Action.PULL,
    (Endpoint.MANIFEST, "HEAD"): Action.PULL,
    (Endpoint.MANIFEST, "PUT"): Action.PUSH,
    (Endpoint.MANIFEST, "DELETE"): Action.DELETE,
    (Endpoint.BLOB, "GET"): Action.PULL,
    (Endpoint.BLOB, "HEAD"): Action.PULL,
    (Endpoint.BLOB, "DELETE"): Action.DELETE,
    (Endpoint.UPLOADS, "POST"): Action.PUSH,
    (Endpoint.UPLOAD, "GET"): Action.PUSH,
    (Endpoint.UPLOAD, "PATCH"): Action.PUSH,
    (Endpoint.UPLOAD, "PUT"): Action.PUSH,
    (Endpoint.UPLOAD, "DELETE"): Action.PUSH,
    (Endpoint.TAGS, "GET"): Action.PULL,
    (Endpoint.REFERRERS, "GET"): Action.PULL,
}

# What a challenge asks the token endpoint for: a push also pulls (clients check blobs before uploading).
_SCOPE_ACTIONS: Final = {
    Action.PULL: "pull",
    Action.PUSH: "pull,push",
    Action.DELETE: "delete",
    Action.MANAGE: "pull",
}


def required_action(endpoint: Endpoint, method: str) -> Action | None:
    """The action a request needs (None: no handler for it, answered 405 elsewhere)."""
    return _ACTIONS.get((endpoint, method))


class ChallengedError(UnauthorizedError):
    """An UNAUTHORIZED answer that carries its ``WWW-Authenticate`` challenge."""

    def __init__(self, message: str, *, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


@dataclass(frozen=True, slots=True)
class Challenger:
    """Writes the ``WWW-Authenticate`` challenges of /v2 (the realm is this server's token endpoint)."""

    public_url: str = ""
    """The configured public URL; empty: the realm is built from the request's own scheme and host."""

    def realm(self, request: web.BaseRequest) -> str:
        base = self.public_url or str(request.url.origin())
        return base.rstrip("/") + "/v2/token"

    def challenge(self, request: web.BaseRequest, scope: str | None = None, error: str | None = None) -> str:
        parts = [f'realm="{self.realm(request)}"', f'service="{SERVICE}"']
        if scope is not None:
            parts.append(f'scope="{scope}"')
        if error is not None:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)


def scope_of(name: str, action: Action) -> str:
    return f"repository:{name}:{_SCOPE_ACTIONS[action]}"


def check_access(
    request: web.BaseRequest,
    challenger: Challenger,
    principal: Principal,
    address: ImageAddress,
    action: Action,
) -> None:
    """Return when ``principal`` may do ``action`` on the addressed image, else raise the right refusal."""
    if allowed(principal, address.repository, action, name=_scope_name(request, address)):
        return
    _refuse(request, challenger, principal, address.name, action)


def refuse_unknown(
    request: web.BaseRequest, challenger: Challenger, principal: Principal, name: str, action: Action
) -> None:
    """For a name no repository answers to: return for a global admin (the caller then says 404), else
    raise what a private repository the caller may not use would answer."""
    if principal.is_admin and principal.token_scopes is None and not principal.anonymous:
        return
    _refuse(request, challenger, principal, name, action)


def _refuse(
    request: web.BaseRequest, challenger: Challenger, principal: Principal, name: str, action: Action
) -> NoReturn:
    scope = scope_of(name, action)
    if principal.token_scopes is not None:
        raise ChallengedError(
            f"the token does not grant {action.value} on {name}",
            challenge=challenger.challenge(request, scope, "insufficient_scope"),
        )
    if principal.anonymous:
        raise ChallengedError(
            f"authentication required to {action.value} {name}",
            challenge=challenger.challenge(request, scope),
        )
    raise DeniedError(f"{principal.name} may not {action.value} {name}", detail={"name": name})


def _scope_name(request: web.BaseRequest, address: ImageAddress) -> str | None:
    """The name a registry JWT's scope must hold for this request.

    The token endpoint reads a scope's name the way a /v2 path is read without ``?ns=``; when ``ns`` chose
    the repository, the name alone may mean another one, so only the repository itself (any scope on
    ``<repository>/…``) counts then.
    """
    return None if request.query.get("ns") else address.name


async def filtered_catalog(
    page_of: Callable[[int | None, str | None], Awaitable[Page]],
    repository: Callable[[str], Awaitable[Repository | None]],
    principal: Principal,
    n: int | None,
    last: str | None,
) -> Page:
    """A page of ``_catalog`` holding only names whose repository ``principal`` may pull from.

    ``page_of(n, last)`` is the unfiltered catalog; its pages are read until ``n`` pullable names (or the
    end) are found, so pagination with ``last`` keeps working over the filtered list.
    """
    if n is not None and n <= 0:
        return Page()
    if principal.is_admin and principal.token_scopes is None:
        return await page_of(n, last)
    batch = max(n or 0, 100)
    found: list[str] = []
    verdicts: dict[str, bool] = {}
    cursor = last
    while True:
        page = await page_of(batch, cursor)
        for full_name in page.items:
            repository_name = full_name.partition("/")[0]
            if repository_name not in verdicts:
                found_repository = await repository(repository_name)
                verdicts[repository_name] = found_repository is not None and allowed(
                    principal, found_repository, Action.PULL, name=full_name
                )
            if verdicts[repository_name]:
                found.append(full_name)
                if n is not None and len(found) > n:  # one past the page: a next page exists
                    return Page(items=found[:n], more=True)
        if not page.more or not page.items:
            return Page(items=found, more=False)
        cursor = page.items[-1]
