"""``UpstreamClient``: everything cargohold asks of ONE upstream registry — a manifest (GET or HEAD) and a
blob (streamed) — over one aiohttp session, turning every way it can go wrong into the domain errors the
resolver fails over on (see ``cargohold.proxy.failures``).

Manifests are read whole (at most 4 MiB) and verified: by digest they must hash to it, by tag to the
upstream's ``Docker-Content-Digest`` when given; their media type is the upstream ``Content-Type`` (or the
JSON ``mediaType``). HEAD falls back to GET when the upstream gives no digest or does not do HEAD. Blobs are
asked for with ``Accept-Encoding: identity`` and redirects are followed by hand (at most 5 hops), so the
``Authorization`` header goes only to the proxy's own origin, never to the object store a blob GET redirects
to. Timeouts: the proxy's ``connection_timeout_ms`` bounds connecting; ``read_timeout`` bounds each read;
a blob body slower than ``min_bytes_per_second`` over ``throughput_window`` seconds is cut off; the
response headers must come within the proxy's ``answer_timeout_ms`` of the request going out
(``cargohold.proxy.answers``). ``ping`` is the cheap health probe (``GET /v2/``).
With ``ssl_validation`` off, certificates are not checked for this proxy alone. With a ``NetworkPolicy``,
every connection (to the registry, its token realm, a redirect target) is held to it. Logs name at most the
URL path and status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Final

import aiohttp
from yarl import URL

from cargohold.errors import ConfigError, DigestInvalidError, FailureKind, UpstreamError
from cargohold.models import MAX_MANIFEST_BYTES, Digest, MediaType, Proxy, Reference
from cargohold.proxy import egress
from cargohold.proxy.answers import AnswerTimeoutError, answer_trace, answered
from cargohold.proxy.auth import Clock, UpstreamAuth
from cargohold.proxy.blobs import BlobResponse, ThroughputFloor
from cargohold.proxy.endpoints import Endpoint, same_origin
from cargohold.proxy.failures import Redactor, failed, status_error, transport_error
from cargohold.registry.networks import NetworkPolicy

__all__ = ["BlobResponse", "FetchedManifest", "ManifestHead", "UpstreamClient"]

log = logging.getLogger(__name__)

MANIFEST_ACCEPT: Final = ", ".join(
    [
        MediaType.OCI_INDEX,
        MediaType.OCI_MANIFEST,
        MediaType.DOCKER_MANIFEST_LIST,
        MediaType.DOCKER_MANIFEST,
        f"{MediaType.DOCKER_MANIFEST_V1_SIGNED};q=0.5",
        f"{MediaType.DOCKER_MANIFEST_V1};q=0.5",
    ]
)
MAX_REDIRECTS: Final = 5
MAX_AUTH_ROUNDS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_GENERIC_TYPES: Final = frozenset({"", "application/json", "text/plain", "application/octet-stream"})


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest's exact bytes as the upstream sent them, verified against ``digest``."""

    content: bytes
    media_type: str
    digest: Digest


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD (or a GET standing in for it) said about a manifest."""

    digest: Digest
    media_type: str
    size: int | None


class UpstreamClient:
    """Talks to one upstream registry (one ``Proxy``); one HTTP session, one auth state, one token cache."""

    def __init__(
        self,
        proxy: Proxy,
        *,
        read_timeout: float = 30.0,
        clock: Clock = time.monotonic,
        min_bytes_per_second: float = 0.0,
        throughput_window: float = 30.0,
        policy: NetworkPolicy | None = None,
    ) -> None:
        self._proxy = proxy
        self._policy = policy
        self._read_timeout = read_timeout
        self._min_rate = min_bytes_per_second
        self._rate_window = throughput_window
        self._clock = clock
        self._redact = Redactor()
        self._redact.add(proxy.password, permanent=True)
        self._endpoint: Endpoint | None = None
        self._bad_url: str | None = None
        try:
            self._endpoint = Endpoint(proxy.url)
        except ConfigError as error:
            self._bad_url = error.message
        origin = self._endpoint.origin if self._endpoint else URL("http://invalid")
        self._auth = UpstreamAuth(
            proxy.name,
            origin,
            username=proxy.username,
            password=proxy.password,
            redact=self._redact,
            clock=clock,
        )
        self._session: aiohttp.ClientSession | None = None
        self._in_use = 0  # operations running and blob responses open
        self._retired = False
        self._closing: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self._proxy.name

    @property
    def proxy(self) -> Proxy:
        return self._proxy

    @property
    def token_requests(self) -> int:
        """How many token requests this client has made (for tests and metrics)."""
        return self._auth.token_requests

    # --- public operations ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Retired and its session closed (or never opened)."""
        return self._retired and self._in_use == 0 and self._session is None

    def retire(self) -> None:
        """No new operation will come (the proxy's settings changed): close the HTTP session as soon as the
        running operations and the open blob responses are done."""
        self._retired = True
        self._close_if_idle()

    @contextlib.contextmanager
    def _using(self) -> Iterator[None]:
        self._in_use += 1
        try:
            yield
        finally:
            self._released()

    def _released(self) -> None:
        self._in_use -= 1
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._retired and self._in_use == 0 and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.close())

    async def get_manifest(self, image: str, reference: Reference) -> FetchedManifest:
        """GET a manifest by tag or digest; verified, at most 4 MiB."""
        with self._using():
            return await self._get_manifest(image, reference)

    async def _get_manifest(self, image: str, reference: Reference) -> FetchedManifest:
        what = f"manifest {image}:{reference}" if reference.tag else f"manifest {image}@{reference}"
        response = await self._open(
            "GET", image, "manifests", str(reference), {"Accept": MANIFEST_ACCEPT}, what
        )
        try:
            body = await self._read_limited(response, what)
        finally:
            response.release()
        digest = self._verify_manifest(body, reference, response.headers.get("Docker-Content-Digest"), what)
        return FetchedManifest(
            body, self._media_type(body, response.headers.get("Content-Type"), what), digest
        )

    async def head_manifest(self, image: str, reference: Reference) -> ManifestHead:
        """HEAD a manifest (Docker Hub does not count it as a pull); GET when HEAD cannot tell the digest."""
        with self._using():
            return await self._head_manifest(image, reference)

    async def _head_manifest(self, image: str, reference: Reference) -> ManifestHead:
        what = f"manifest {image}:{reference}" if reference.tag else f"manifest {image}@{reference}"
        response = await self._open(
            "HEAD", image, "manifests", str(reference), {"Accept": MANIFEST_ACCEPT}, what, ok=(200, 405)
        )
        response.release()
        header = response.headers.get("Docker-Content-Digest")
        content_type = _bare_type(response.headers.get("Content-Type"))
        if response.status == 200 and header and content_type not in _GENERIC_TYPES:
            digest = self._parse_digest(header, what)
            if reference.digest is not None and digest != reference.digest:
                raise failed(self.name, FailureKind.BAD_CONTENT, f"{what}: HEAD answered digest {digest}")
            return ManifestHead(digest, content_type, response.content_length)
        fetched = await self._get_manifest(image, reference)
        return ManifestHead(fetched.digest, fetched.media_type, len(fetched.content))

    async def open_blob(self, image: str, digest: Digest) -> BlobResponse:
        """GET a blob; the caller streams ``iter_chunks`` and must ``close`` it."""
        what = f"blob {image}@{digest}"
        headers = {"Accept-Encoding": "identity"}
        self._in_use += 1
        try:
            response = await self._open("GET", image, "blobs", str(digest), headers, what, decompress=False)
        except BaseException:
            self._released()
            raise
        floor = ThroughputFloor(self._min_rate, self._rate_window, self._clock)
        return BlobResponse(
            response, proxy_name=self.name, redact=self._redact, floor=floor, on_close=self._released
        )

    async def head_blob(self, image: str, digest: Digest) -> int | None:
        """HEAD a blob: confirms the upstream serves it to this image; its size when given."""
        what = f"blob {image}@{digest}"
        headers = {"Accept-Encoding": "identity"}
        with self._using():
            response = await self._open("HEAD", image, "blobs", str(digest), headers, what, decompress=False)
        response.release()
        return response.content_length

    async def ping(self) -> int:
        """``GET /v2/`` without credentials, no redirect followed: the status (a 401 is an answer too).
        UpstreamFailedError when the upstream cannot be reached."""
        if self._endpoint is None:
            raise failed(self.name, FailureKind.PROTOCOL, self._bad_url or "invalid URL")
        base = self._endpoint.base
        url = base.with_path(base.path.rstrip("/") + "/v2/")
        where = f"{url.host}:{url.port}"
        with self._using():
            response = await self._answered(
                self._session_for_requests().get(url, allow_redirects=False), where
            )
            response.release()
            return response.status

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- requests ------------------------------------------------------------------------------------

    def _session_for_requests(self) -> aiohttp.ClientSession:
        if self._session is None:
            connect = self._proxy.connection_timeout_ms / 1000
            timeout = aiohttp.ClientTimeout(
                total=None, connect=connect, sock_connect=connect, sock_read=self._read_timeout
            )
            # limit=0: the connect timeout also covers waiting for a pooled connection, so a pool limit
            # would turn a busy moment into false TIMEOUTs; single-flight bounds connections per blob anyway.
            # The network policy is checked on the address of every connection (cargohold.proxy.egress).
            connector = egress.connector(self._policy, self._proxy, limit=0)
            # trust_env=False: no proxy variables and, above all, no ~/.netrc credentials sent anywhere.
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, trust_env=False, trace_configs=[answer_trace()]
            )
        return self._session

    async def _answered(
        self, request: Awaitable[aiohttp.ClientResponse], where: str
    ) -> aiohttp.ClientResponse:
        """The response to ``request`` once its headers arrived: within the proxy's ``answer_timeout_ms`` of
        the request being sent (connecting has its own timeout), else a TIMEOUT failure."""
        try:
            return await answered(request, self._proxy.answer_timeout_ms / 1000)
        except AnswerTimeoutError:
            waited = f"no answer from {where} within {self._proxy.answer_timeout_ms} ms"
            raise failed(self.name, FailureKind.TIMEOUT, waited) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise transport_error(self.name, error, where, self._redact) from None

    async def _open(
        self,
        method: str,
        image: str,
        kind: str,
        reference: str,
        headers: dict[str, str],
        what: str,
        *,
        ok: tuple[int, ...] = (200,),
        decompress: bool = True,
    ) -> aiohttp.ClientResponse:
        """Send the request with authentication (re-authenticating on 401) and return a response in ``ok``."""
        if self._endpoint is None:
            raise failed(self.name, FailureKind.PROTOCOL, self._bad_url or "invalid URL")
        session = self._session_for_requests()
        url = self._endpoint.url(image, kind, reference)
        scope = self._endpoint.pull_scope(image)
        for _ in range(MAX_AUTH_ROUNDS):
            attempt = await self._auth.authorize(session, scope)
            response = await self._follow(session, method, url, headers, attempt.header, decompress)
            if response.status in ok:
                return response
            response.release()
            if response.status == 401 and same_origin(response.url, self._endpoint.origin):
                self._auth.unauthorized(response.headers.getall("WWW-Authenticate", []), attempt, what)
                continue
            raise status_error(self.name, response.status, response.headers, what)
        raise failed(self.name, FailureKind.CREDENTIALS_REJECTED, f"{what}: still unauthorized after re-auth")

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        headers: dict[str, str],
        authorization: str | None,
        decompress: bool,
    ) -> aiohttp.ClientResponse:
        """One request, following redirects by hand; ``Authorization`` only to the proxy's origin."""
        assert self._endpoint is not None
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            if authorization is not None and same_origin(url, self._endpoint.origin):
                sent["Authorization"] = authorization
            where = f"{url.host}:{url.port}"
            response = await self._answered(
                session.request(method, url, headers=sent, allow_redirects=False, auto_decompress=decompress),
                where,
            )
            log.debug("proxy %s: %s %s%s -> %s", self.name, method, where, url.path, response.status)
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            response.release()
            if not location:
                raise failed(self.name, FailureKind.PROTOCOL, f"redirect from {where} without a Location")
            try:
                url = response.url.join(URL(location, encoded=True))
            except (ValueError, TypeError):
                raise failed(self.name, FailureKind.PROTOCOL, f"invalid redirect from {where}") from None
            if url.scheme not in ("http", "https") or not url.host:
                raise failed(self.name, FailureKind.PROTOCOL, f"redirect from {where} to a non-http(s) URL")
        raise failed(self.name, FailureKind.PROTOCOL, f"more than {MAX_REDIRECTS} redirects")

    async def _read_limited(self, response: aiohttp.ClientResponse, what: str) -> bytes:
        if response.content_length is not None and response.content_length > MAX_MANIFEST_BYTES:
            raise failed(
                self.name, FailureKind.BAD_CONTENT, f"{what}: larger than {MAX_MANIFEST_BYTES} bytes"
            )
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_MANIFEST_BYTES:
                    raise failed(
                        self.name, FailureKind.BAD_CONTENT, f"{what}: larger than {MAX_MANIFEST_BYTES} bytes"
                    )
        except UpstreamError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            where = f"{response.url.host}:{response.url.port}"
            raise transport_error(self.name, error, f"{what} from {where}", self._redact) from None
        return bytes(body)

    # --- verification --------------------------------------------------------------------------------

    def _parse_digest(self, text: str, what: str) -> Digest:
        try:
            return Digest.parse(text.strip())
        except DigestInvalidError:
            raise failed(
                self.name, FailureKind.PROTOCOL, f"{what}: malformed Docker-Content-Digest"
            ) from None

    def _verify_manifest(self, body: bytes, reference: Reference, header: str | None, what: str) -> Digest:
        expected = reference.digest
        if expected is None and header:
            expected = self._parse_digest(header, what)
        if expected is None:
            return Digest.of(body)
        actual = Digest.of(body, expected.algorithm)
        if actual != expected:
            source = "the digest asked for" if reference.digest else "Docker-Content-Digest"
            raise failed(self.name, FailureKind.BAD_CONTENT, f"{what}: body hashes to {actual}, not {source}")
        return expected

    def _media_type(self, body: bytes, content_type: str | None, what: str) -> str:
        header_type = _bare_type(content_type)
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise failed(self.name, FailureKind.BAD_CONTENT, f"{what}: not a JSON manifest") from None
        if not isinstance(document, dict):
            raise failed(self.name, FailureKind.BAD_CONTENT, f"{what}: not a JSON manifest")
        field = document.get("mediaType")
        field_type = field if isinstance(field, str) and field else None
        if header_type not in _GENERIC_TYPES:
            if field_type is not None and field_type != header_type:
                raise failed(
                    self.name,
                    FailureKind.BAD_CONTENT,
                    f"{what}: mediaType {field_type[:100]!r} != Content-Type",
                )
            return header_type
        if field_type is not None:
            return field_type
        if document.get("schemaVersion") == 1:
            signed = "signatures" in document
            return MediaType.DOCKER_MANIFEST_V1_SIGNED if signed else MediaType.DOCKER_MANIFEST_V1
        raise failed(self.name, FailureKind.BAD_CONTENT, f"{what}: no Content-Type and no mediaType")


def _bare_type(content_type: str | None) -> str:
    """``Content-Type`` without parameters, lowercase; empty when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()
