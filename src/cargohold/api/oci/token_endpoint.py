"""The Docker token endpoint, ``GET /v2/token`` (and ``POST`` with ``grant_type=password``).

A client that met a ``Bearer`` challenge on /v2 asks here for a short-lived registry JWT, with Basic
credentials (a password or an access token) or none, naming the scopes it wants
(``scope=repository:<name>:pull,push``, several ``scope`` parameters or space-separated). The token holds
only what the caller may do: each requested action is checked against the repository the name resolves to,
exactly as a /v2 request with that name would; names that do not resolve and actions not allowed are
dropped, not refused (as Distribution's token server does). ``registry:catalog:*`` is for everyone, since the
catalog is filtered anyway. Credentials that do not work are refused with 401; too many failures with 429.

Answer: ``{"token", "access_token", "expires_in", "issued_at"}``, never cached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from cargohold.api.auth.credentials import AUTHENTICATOR_KEY, client_address, principal_of
from cargohold.api.oci.errors import error_response
from cargohold.auth.policy import allowed
from cargohold.auth.principal import Action, Principal
from cargohold.auth.tokens import RegistryTokens, parse_scopes
from cargohold.errors import NameInvalidError, NameUnknownError, RegistryError, UnauthorizedError
from cargohold.registry.addressing import NameResolver

log = logging.getLogger(__name__)

TOKEN_PATH: Final = "/v2/token"  # noqa: S105 - a path, not a secret
MAX_SCOPES: Final = 32
"""A token request naming more scopes than this is cut to the first ones (real clients ask for one or two)."""

_REPOSITORY_ACTIONS: Final = {action.value: action for action in (Action.PULL, Action.PUSH, Action.DELETE)}


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    tokens: RegistryTokens
    names: NameResolver


TOKEN_ISSUER_KEY: Final = web.AppKey("cargohold_token_issuer", TokenIssuer)


async def granted_scopes(
    names: NameResolver, principal: Principal, raw_scopes: Sequence[str]
) -> list[tuple[str, frozenset[str]]]:
    """``(name, actions)`` for each requested repository scope, cut to what ``principal`` may do there."""
    granted: list[tuple[str, frozenset[str]]] = []
    for scope in parse_scopes(list(raw_scopes))[:MAX_SCOPES]:
        if scope.type != "repository":
            continue
        try:
            address = await names.resolve(scope.name)
        except (NameInvalidError, NameUnknownError):
            continue
        wanted = set(_REPOSITORY_ACTIONS) if "*" in scope.actions else set(scope.actions)
        actions = frozenset(
            action
            for action in wanted & set(_REPOSITORY_ACTIONS)
            if allowed(principal, address.repository, _REPOSITORY_ACTIONS[action], name=scope.name)
        )
        if actions:
            granted.append((scope.name, actions))
    return granted


def _split(values: Sequence[str]) -> list[str]:
    return [part for value in values for part in value.split(" ") if part]


async def _issue(request: web.Request, principal: Principal, raw_scopes: Sequence[str]) -> web.Response:
    issuer = request.app[TOKEN_ISSUER_KEY]
    granted = await granted_scopes(issuer.names, principal, _split(raw_scopes))
    issued = issuer.tokens.issue(principal, granted)
    body = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _refused(request: web.Request, error: RegistryError) -> web.Response:
    log.info("token request from %s refused: %s", client_address(request), error.message)
    response = error_response(error, request.method)
    if isinstance(error, UnauthorizedError):
        response.headers["WWW-Authenticate"] = 'Basic realm="cargohold"'
    response.headers["Cache-Control"] = "no-store"
    return response


async def get_token(request: web.Request) -> web.StreamResponse:
    """``GET /v2/token?service=cargohold&scope=…`` with optional Basic credentials."""
    try:
        principal = await principal_of(request)
        return await _issue(request, principal, request.query.getall("scope", []))
    except RegistryError as error:
        return _refused(request, error)


async def post_token(request: web.Request) -> web.StreamResponse:
    """``POST /v2/token`` with the OAuth2 password grant (``grant_type=password``, ``username``,
    ``password``, ``scope``); other grants are refused with ``unsupported_grant_type``."""
    try:
        form = await request.post()
    except (ValueError, web.HTTPException):
        return _oauth_error(400, "invalid_request", "the body must be a form")
    grant_type = form.get("grant_type")
    if grant_type != "password":
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=password is supported")
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        return _oauth_error(400, "invalid_request", "username and password are required")
    scopes = [value for value in form.getall("scope", []) if isinstance(value, str)]
    authenticator = request.config_dict[AUTHENTICATOR_KEY]
    try:
        principal = await authenticator.basic(username, password, client_address(request))
        return await _issue(request, principal, scopes)
    except RegistryError as error:
        return _refused(request, error)


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response(
        {"error": code, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store"},
    )


def add_token_routes(app: web.Application, issuer: TokenIssuer) -> None:
    """Register the token endpoint; call before the /v2 catch-all route so it takes precedence."""
    app[TOKEN_ISSUER_KEY] = issuer
    app.router.add_get(TOKEN_PATH, get_token)
    app.router.add_post(TOKEN_PATH, post_token)
