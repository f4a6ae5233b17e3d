"""Installing authentication into the aiohttp application: the authenticator every area reads credentials
with, the token endpoint, and the challenger /v2 answers 401 with."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from cargohold.api.auth.credentials import AUTHENTICATOR_KEY, CredentialChecker
from cargohold.api.auth.token_endpoint import TokenIssuer, add_token_routes
from cargohold.api.auth.v2_guard import Challenger
from cargohold.auth.tokens import RegistryTokens
from cargohold.registry.addressing import NameResolver


@dataclass(frozen=True, slots=True)
class HttpAuth:
    """What the HTTP layer needs to authenticate, built by the composition root."""

    authenticator: CredentialChecker
    tokens: RegistryTokens
    public_url: str = ""
    """The token realm's base URL; empty: each challenge names the host the request came to."""


def install_auth(app: web.Application, auth: HttpAuth, names: NameResolver) -> Challenger:
    """Put the authenticator on ``app`` and route ``/v2/token``; call before the /v2 routes are added."""
    app[AUTHENTICATOR_KEY] = auth.authenticator
    add_token_routes(app, TokenIssuer(auth.tokens, names))
    return Challenger(auth.public_url)
