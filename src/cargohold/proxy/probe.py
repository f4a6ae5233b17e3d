"""``ProxyProbe``: the "test connection" of a proxy, saved or not yet saved, step by step —

* ``resolve+connect``: resolve the host, open a TCP connection within the proxy's connection timeout;
* ``tls``: the TLS handshake with certificate validation, and when validation fails, what is wrong with
  the certificate (self-signed, expired, not yet valid, issued by an unknown authority, not for this host),
  from the verification error and, for an untrusted certificate, a second check that trusts it to see what
  else is wrong; with ``ssl_validation`` off the step passes and says what validation would have found;
* ``auth``: ``GET /v2/`` and the challenge it answers with — anonymous, Basic, or the Bearer token flow
  (``cargohold.proxy.auth``) — and whether the credentials (or anonymous access) were accepted;
* ``ping``: an authorised ``GET /v2/``, its status and latency;
* ``lookup`` (when an image is given): a manifest HEAD through ``UpstreamClient``: found or not found; an
  image the proxy's name rules do not allow fails this step without asking (pulls of it skip the proxy).

Every connection is held to the network policy (``cargohold.proxy.egress``): an address it forbids fails
``resolve+connect`` without naming the address, and unsaved settings get the check of a save first.
After a failed step the later ones are reported as not run. No detail ever carries a password or a token:
every one passes through the proxy's ``Redactor``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
from yarl import URL

from cargohold.errors import (
    CargoholdError,
    ConfigError,
    NameUnknownError,
    ProxyUnknownError,
    UpstreamNotFoundError,
    ValidationFailedError,
)
from cargohold.metadata.base import RepositoryStore
from cargohold.models import Digest, Proxy, Reference, validate_image_name, validate_tag
from cargohold.proxy import egress
from cargohold.proxy.answers import AnswerTimeoutError, answer_trace, answered
from cargohold.proxy.auth import Attempt, Scheme, UpstreamAuth
from cargohold.proxy.client import UpstreamClient
from cargohold.proxy.endpoints import Endpoint
from cargohold.proxy.failures import Redactor
from cargohold.registry.name_rules import describe_rules, proxy_allows
from cargohold.registry.networks import NetworkPolicy, check_proxy_url
from cargohold.registry.repositories import ProxySettings, proxy_from_settings

__all__ = ["ProbeResult", "ProbeStep", "ProxyProbe"]

STEPS: Final = ("resolve+connect", "tls", "auth", "ping", "lookup")
PROBE_SCOPE_IMAGE: Final = "cargohold-probe"
"""The image whose pull scope a token is asked for when no image is given (any name gets a token)."""

# OpenSSL X509_V_ERR_* codes and what they mean to a user.
_CERTIFICATE_PROBLEMS: Final = {
    2: "it is issued by an unknown certificate authority",
    9: "it is not valid yet",
    10: "it has expired",
    18: "it is self-signed",
    19: "its chain ends in a self-signed certificate that is not trusted (a private CA?)",
    20: "it is issued by an unknown certificate authority",
    21: "it is issued by an unknown certificate authority",
    23: "it has been revoked",
}
_UNTRUSTED: Final = frozenset({2, 18, 19, 20, 21})


@dataclass(frozen=True)
class ProbeStep:
    name: str
    ok: bool
    detail: str
    elapsed_ms: float


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    steps: tuple[ProbeStep, ...]
    elapsed_ms: float


class _StepFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProxyProbe:
    def __init__(
        self, metadata: RepositoryStore, *, read_timeout: float = 10.0, policy: NetworkPolicy | None = None
    ) -> None:
        self._metadata = metadata
        self._read_timeout = read_timeout
        self._policy = policy

    async def test(self, repository: str, proxy: str, image: str | None = None) -> ProbeResult:
        """Probe a saved proxy. NameUnknownError, ProxyUnknownError; ValidationFailedError('image')."""
        found = await self._metadata.get_repository(repository)
        if found is None or found.id is None:
            raise NameUnknownError(f"repository {repository[:80]!r} unknown")
        for candidate in await self._metadata.list_proxies(found.id):
            if candidate.name == proxy:
                return await self._probe(candidate, image)
        raise ProxyUnknownError(f"repository {repository!r} has no proxy {proxy[:80]!r}")

    async def test_settings(
        self, proxy: ProxySettings, image: str | None = None, *, trusted: bool = False
    ) -> ProbeResult:
        """Probe settings before saving them, validated like an add (ValidationFailedError), the URL
        included: ``trusted`` (a global admin) may test private addresses, nobody denied ones."""
        checked = dataclasses.replace(proxy_from_settings(proxy), private_networks_approved=trusted)
        if self._policy is not None:
            await check_proxy_url(self._policy, checked.url, approved=trusted)
        return await self._probe(checked, image)

    async def _probe(self, proxy: Proxy, image: str | None) -> ProbeResult:
        lookup = None if image is None else _parse_image(image)
        run = _Run(proxy, self._read_timeout, self._policy)
        started = time.perf_counter()
        try:
            steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
                ("resolve+connect", run.connect),
                ("tls", run.tls),
                ("auth", run.auth),
                ("ping", run.ping),
            ]
            if lookup is not None:
                steps.append(("lookup", lambda: run.lookup(*lookup)))
            results: list[ProbeStep] = []
            for name, step in steps:
                if results and not results[-1].ok:
                    failed = next(r.name for r in results if not r.ok)
                    results.append(ProbeStep(name, False, f"not run: {failed} failed", 0.0))
                    continue
                results.append(await run.step(name, step))
        finally:
            await run.close()
        elapsed = (time.perf_counter() - started) * 1000
        return ProbeResult(all(step.ok for step in results), tuple(results), round(elapsed, 1))


class _Run:
    """One probe of one proxy: the state the steps pass on (address, auth header)."""

    def __init__(self, proxy: Proxy, read_timeout: float, policy: NetworkPolicy | None) -> None:
        self.proxy = proxy
        self.policy = policy
        self.read_timeout = read_timeout
        self.connect_timeout = proxy.connection_timeout_ms / 1000
        self.redact = Redactor()
        self.redact.add(proxy.password, permanent=True)
        self.endpoint: Endpoint | None = None
        self.address: str | None = None
        self.session: aiohttp.ClientSession | None = None
        self.authorization: str | None = None

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> ProbeStep:
        started = time.perf_counter()
        try:
            detail = await asyncio.wait_for(action(), self.connect_timeout + 2 * self.read_timeout)
            ok = True
        except _StepFailed as failure:
            ok, detail = False, failure.detail
        except CargoholdError as error:  # UpstreamError from the auth flow or the client, mostly
            ok, detail = False, error.message
        except TimeoutError:
            ok, detail = False, "timed out"
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return ProbeStep(name, ok, self.redact(detail), elapsed)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    # --- resolve+connect ----------------------------------------------------------------------------

    async def connect(self) -> str:
        try:
            self.endpoint = Endpoint(self.proxy.url)
        except ConfigError as error:
            raise _StepFailed(error.message) from None
        host, port = self._host_port()
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.connect_timeout
            )
        except TimeoutError:
            raise _StepFailed(
                f"resolving {host} took longer than {self.proxy.connection_timeout_ms} ms"
            ) from None
        except OSError as error:
            raise _StepFailed(f"cannot resolve {host}: {error.strerror or error}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refusals = [egress.refusal(self.policy, self.proxy, address) for address in addresses]
        if any(refusals):  # named without its addresses: what a name resolves to inside is nobody's business
            reason = next(refusal for refusal in refusals if refusal)
            raise _StepFailed(f"not connecting to {host}: {reason}")
        problems = []
        for address in addresses:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port), self.connect_timeout
                )
            except TimeoutError:
                problems.append(
                    f"{_join(address, port)}: no answer within {self.proxy.connection_timeout_ms} ms"
                )
                continue
            except OSError as error:
                problems.append(f"{_join(address, port)}: {error.strerror or error}")
                continue
            writer.close()
            self.address = address
            resolved = "" if address == host else f"resolved {host} to {', '.join(addresses)}; "
            return f"{resolved}connected to {_join(address, port)}"
        raise _StepFailed(f"cannot connect to {host}:{port}: {'; '.join(problems)}")

    # --- tls ----------------------------------------------------------------------------------------

    async def tls(self) -> str:
        if self._scheme() != "https":
            return "not used: plain http, traffic is not encrypted"
        host, _ = self._host_port()
        try:
            writer = await self._handshake(ssl.create_default_context())
        except ssl.SSLCertVerificationError as error:
            problems = await self._certificate_problems(error, host)
            if self.proxy.ssl_validation:
                raise _StepFailed(f"certificate of {host} rejected: {'; '.join(problems)}") from None
            found = "; ".join(problems)
            return f"certificate not verified (ssl_validation is off); validation would fail: {found}"
        except ssl.SSLError as error:
            raise _StepFailed(f"TLS handshake with {host} failed: {error.reason or error}") from None
        except (OSError, TimeoutError) as error:
            raise _StepFailed(f"TLS handshake with {host} failed: {error}") from None
        version = writer.get_extra_info("ssl_object").version()
        certificate = writer.get_extra_info("peercert") or {}
        writer.close()
        issuer = _name(certificate.get("issuer", ()))
        until = certificate.get("notAfter", "?")
        return f"{version}; certificate for {host} is valid until {until}, issued by {issuer}"

    async def _handshake(self, context: ssl.SSLContext) -> asyncio.StreamWriter:
        host, port = self._host_port()
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(self.address or host, port, ssl=context, server_hostname=host),
            self.connect_timeout + self.read_timeout,
        )
        return writer

    async def _certificate_problems(self, error: ssl.SSLCertVerificationError, host: str) -> list[str]:
        problems = [_problem(error, host)]
        if error.verify_code not in _UNTRUSTED:
            return problems
        # Trust the certificate itself for a moment to learn what else is wrong (expiry, host name).
        try:
            unverified = ssl.create_default_context()
            unverified.check_hostname = False
            unverified.verify_mode = ssl.CERT_NONE
            writer = await self._handshake(unverified)
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            writer.close()
            trusting = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
            trusting.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            (await self._handshake(trusting)).close()
        except ssl.SSLCertVerificationError as second:
            problem = _problem(second, host)
            if problem not in problems:
                problems.append(problem)
        except (ssl.SSLError, OSError, TimeoutError, ValueError):
            pass
        return problems

    # --- auth and ping ------------------------------------------------------------------------------

    async def auth(self) -> str:
        session = self._session()
        assert self.endpoint is not None
        auth = UpstreamAuth(
            self.proxy.name,
            self.endpoint.origin,
            username=self.proxy.username,
            password=self.proxy.password,
            redact=self.redact,
        )
        response = await self._get(session, None)
        if response.status != 401:
            configured = " (credentials are configured but not asked for)" if self.proxy.username else ""
            return f"anonymous: /v2/ answered {response.status} without a challenge{configured}"
        challenges = response.headers.getall("WWW-Authenticate", [])
        auth.unauthorized(challenges, Attempt(Scheme.NONE), "GET /v2/")
        attempt = await auth.authorize(session, self.endpoint.pull_scope(PROBE_SCOPE_IMAGE))
        response = await self._get(session, attempt.header)
        who = f"user {self.proxy.username!r}" if self.proxy.username else "anonymous"
        if attempt.scheme is Scheme.BASIC:
            if response.status == 401:
                raise _StepFailed(f"basic: the registry refused the username or password of {who}")
            self.authorization = attempt.header
            return f"basic: credentials of {who} accepted"
        realm = _realm_of(challenges)
        if response.status == 401:
            raise _StepFailed(f"bearer: /v2/ refused the token issued by {realm} to {who}")
        self.authorization = attempt.header
        return f"bearer: token from {realm} issued to {who}, accepted"

    async def ping(self) -> str:
        started = time.perf_counter()
        response = await self._get(self._session(), self.authorization)
        elapsed = (time.perf_counter() - started) * 1000
        version = response.headers.get("Docker-Distribution-API-Version")
        if response.status != 200:
            raise _StepFailed(f"GET /v2/ answered HTTP {response.status} in {elapsed:.1f} ms, expected 200")
        api = f" ({version})" if version else " (no Docker-Distribution-API-Version header)"
        return f"GET /v2/ answered HTTP 200 in {elapsed:.1f} ms{api}"

    async def _get(self, session: aiohttp.ClientSession, authorization: str | None) -> aiohttp.ClientResponse:
        assert self.endpoint is not None
        url = self.endpoint.base.with_path(self.endpoint.base.path.rstrip("/") + "/v2/")
        headers = {"Authorization": authorization} if authorization else {}
        answer = self.proxy.answer_timeout_ms
        try:
            response = await answered(session.get(url, headers=headers, allow_redirects=False), answer / 1000)
            async with response:
                await response.read()
                return response
        except AnswerTimeoutError:
            raise _StepFailed(f"GET /v2/ got no answer within {answer} ms (answer_timeout_ms)") from None
        except (aiohttp.ClientError, OSError) as error:
            raise _StepFailed(f"GET /v2/ failed: {error.__class__.__name__}: {error}") from None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
            )
            connector = egress.connector(self.policy, self.proxy)
            self.session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, trust_env=False, trace_configs=[answer_trace()]
            )
        return self.session

    # --- lookup -------------------------------------------------------------------------------------

    async def lookup(self, image: str, reference: Reference) -> str:
        shown = f"{image}@{reference}" if reference.digest else f"{image}:{reference}"
        if not proxy_allows(self.proxy, image):
            raise _StepFailed(
                f"{shown}: not asked: the proxy's name rules ({describe_rules(self.proxy)}) do not allow "
                f"{image}, so pulls of it skip this proxy"
            )
        async with UpstreamClient(self.proxy, read_timeout=self.read_timeout, policy=self.policy) as client:
            try:
                head = await client.head_manifest(image, reference)
            except UpstreamNotFoundError:
                raise _StepFailed(f"{shown}: not found") from None
        size = "" if head.size is None else f", {head.size} bytes"
        return f"{shown}: found {head.digest} ({head.media_type}{size})"

    # --- helpers ------------------------------------------------------------------------------------

    def _scheme(self) -> str:
        assert self.endpoint is not None
        return self.endpoint.base.scheme

    def _host_port(self) -> tuple[str, int]:
        assert self.endpoint is not None
        base: URL = self.endpoint.base
        assert base.host is not None
        return base.host, base.port or (443 if base.scheme == "https" else 80)


def _problem(error: ssl.SSLCertVerificationError, host: str) -> str:
    if error.verify_code in (62, 64):
        return f"it is not valid for {host} (host name mismatch)"
    return _CERTIFICATE_PROBLEMS.get(error.verify_code, error.verify_message or str(error.reason))


def _name(fields: object) -> str:
    """``CN=…, O=…`` from the ``subject``/``issuer`` tuples of ``SSLSocket.getpeercert()``."""
    short = {"commonName": "CN", "organizationName": "O", "countryName": "C"}
    parts = []
    if isinstance(fields, tuple):
        for rdn in fields:
            for key, value in rdn:
                if key in short:
                    parts.append(f"{short[key]}={value}")
    return ", ".join(parts) or "?"


def _realm_of(challenges: list[str]) -> str:
    for challenge in challenges:
        marker = 'realm="'
        if marker in challenge:
            realm = URL(challenge.split(marker, 1)[1].split('"', 1)[0])
            port = f":{realm.explicit_port}" if realm.explicit_port else ""
            return f"{realm.host}{port}{realm.path}" if realm.host else "the token endpoint"
    return "the token endpoint"


def _join(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _parse_image(text: str) -> tuple[str, Reference]:
    """``name``, ``name:tag`` or ``name@digest`` (the tag defaults to ``latest``)."""
    try:
        if "@" in text:
            name, digest = text.split("@", 1)
            return validate_image_name(name), Reference(digest=Digest.parse(digest))
        name, _, tag = text.rpartition(":") if ":" in text.rsplit("/", 1)[-1] else (text, "", "latest")
        return validate_image_name(name), Reference(tag=validate_tag(tag))
    except CargoholdError as error:
        raise ValidationFailedError(
            "image", f"{error.message}; expected NAME, NAME:TAG or NAME@DIGEST"
        ) from None
