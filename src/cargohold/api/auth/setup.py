"""Installing authentication into the aiohttp application: the authenticator every area (/v2, /api/v1,
/ui) reads credentials with. ``HttpAuth`` also carries what the /v2 API needs for its token endpoint and its
challenges (``cargohold.api.oci.routes.add_routes``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from cargohold.api.auth.credentials import AUTHENTICATOR_KEY, CredentialChecker
from cargohold.auth.tokens import RegistryTokens


@dataclass(frozen=True, slots=True)
class HttpAuth:
    """What the HTTP layer needs to authenticate, built by the composition root."""

    authenticator: CredentialChecker
    tokens: RegistryTokens
    public_url: str = ""
    """The token realm's base URL; empty: each challenge names the host the request came to."""


def install_auth(app: web.Application, auth: HttpAuth) -> None:
    """Put the authenticator on ``app``, where every area and sub-application finds it."""
    app[AUTHENTICATOR_KEY] = auth.authenticator
