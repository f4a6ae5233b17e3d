"""A Docker token-auth server for tests (Docker's "Token Authentication Specification"), run in-process.

CNCF Distribution configured with ``auth: token`` sends clients a ``Bearer realm=…,service=…`` challenge
and accepts JWTs signed by a key whose certificate is in its ``rootcertbundle``. ``TokenServer`` is that
realm: an aiohttp app on 127.0.0.1 that checks HTTP Basic credentials against its ``users``, grants the
intersection of the requested scopes and the user's ``acl`` (fnmatch patterns; user ``""`` is anonymous),
and answers ``{"token": JWT, "expires_in": …}``. JWTs are ES256 with the signing certificate in the ``x5c``
header (Distribution 2.8 verifies the chain against ``rootcertbundle``) and claims iss, sub, aud=service,
exp, nbf, iat, jti and ``access``. It records every request so tests can count token fetches, and its
answer can be varied (``expires_in`` omitted, ``access_token`` instead of ``token``).

Note it runs on the test's event loop: a blocking call (skopeo) that needs it must run in a thread.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import BasicAuth, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE = "cargohold-test-registry"
ISSUER = "cargohold-test-token-issuer"


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered."""

    user: str  # "" for anonymous
    scopes: tuple[str, ...]
    status: int
    granted: tuple[dict[str, Any], ...] = ()


@dataclass
class TokenServer:
    """An in-process token endpoint; ``start()`` it, configure Distribution with ``distribution_config()``."""

    workdir: Path
    users: Mapping[str, str] = field(default_factory=dict)
    acl: Mapping[str, Sequence[tuple[str, Sequence[str]]]] = field(default_factory=dict)
    expires_in: int | None = 300  # None: leave it out of the answer (clients must assume 60 s)
    token_field: str = "token"  # or "access_token"
    jwt_lifetime_s: int = 900
    requests: list[TokenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cargohold test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.rootcertbundle = self.workdir / "token-signer.pem"
        self.rootcertbundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> TokenServer:
        app = web.Application()
        app.router.add_get("/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TokenServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def distribution_config(self) -> dict[str, Any]:
        """``extra_config`` for ``distribution_factory``: token auth trusting this server's signer."""
        return {
            "auth": {
                "token": {
                    "realm": self.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.rootcertbundle),
                }
            }
        }

    def count(self, user: str | None = None) -> int:
        """Token requests answered (for ``user`` only when given)."""
        return sum(1 for r in self.requests if user is None or r.user == user)

    # --- the endpoint --------------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return ""
        try:
            auth = BasicAuth.decode(header)
        except ValueError:
            return None
        expected = self.users.get(auth.login)
        if expected is None or not secrets.compare_digest(expected, auth.password):
            return None
        return auth.login

    def _grant(self, user: str, scope: str) -> dict[str, Any] | None:
        parts = scope.split(":")
        if len(parts) < 3 or parts[0] != "repository":
            return None
        name, wanted = ":".join(parts[1:-1]), parts[-1].split(",")
        allowed: set[str] = set()
        for pattern, actions in self.acl.get(user, ()):
            if fnmatch.fnmatchcase(name, pattern):
                allowed.update(actions)
        actions = [a for a in wanted if a in allowed or "*" in allowed]
        return {"type": "repository", "name": name, "actions": actions} if actions else None

    async def _token(self, request: web.Request) -> web.Response:
        scopes = tuple(s for value in request.query.getall("scope", []) for s in value.split(" ") if s)
        user = self._authenticate(request)
        if user is None or request.query.get("service") != SERVICE:
            status = 401 if user is None else 400
            self.requests.append(TokenRequest(user or "?", scopes, status))
            return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=status)
        granted = tuple(g for g in (self._grant(user, s) for s in scopes) if g is not None)
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + self.jwt_lifetime_s,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": list(granted),
        }
        x5c = [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()]
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": x5c})
        self.requests.append(TokenRequest(user, scopes, 200, granted))
        body: dict[str, Any] = {self.token_field: token}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        body["issued_at"] = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat()
        return web.json_response(body)
