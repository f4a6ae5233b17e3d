"""Deliberately misbehaving upstream registries, for the failures a real Distribution will not produce on
demand: redirects to another host, 429/500 answers, wrong digests, token endpoints that change their mind,
bodies that stop short or stall, expired certificates.

``FakeUpstream`` is an aiohttp app on 127.0.0.1 (the "registry") with a second site on 127.0.0.2 (the
"object storage" blob GETs are redirected to; both are loopback, but a different host as far as a client's
origin rules go). Tests script answers per image name (``manifests[name]``, ``blobs[name]``; per tag or
digest with ``manifests_by_reference[(name, reference)]``), choose the auth the registry demands (none,
Basic, Bearer through its own ``/token`` realm, or one on the other host with ``token_on_storage``) and
read back ``seen``: every request with its host and whether ``Authorization`` arrived. ``RawUpstream`` is a
bare TCP server for what aiohttp will not do: accept and never answer, or send headers and then stop
mid-body or close early.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import datetime
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REGISTRY_HOST = "127.0.0.1"
STORAGE_HOST = "127.0.0.2"


@dataclass(frozen=True)
class Seen:
    """One request a fake upstream received."""

    method: str
    host: str
    path: str
    query: str  # raw, as it came over the wire
    authorization: str | None
    accept: str | None = None
    accept_encoding: str | None = None


@dataclass
class Answer:
    """A scripted HTTP answer; ``redirect_to`` makes it a 307 (absolute or relative Location)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    redirect_to: str | None = None
    chunked: bool = False  # the body goes out with chunked transfer encoding: no Content-Length
    head_length: bool = False  # with ``chunked``: a HEAD still gives the Content-Length


@dataclass
class FakeUpstream:
    """A scriptable registry on 127.0.0.1 plus an object store on 127.0.0.2."""

    auth: str = "none"  # none | basic | bearer
    credentials: tuple[str, str] | None = None  # Basic credentials (registry, or its token realm)
    ssl_context: ssl.SSLContext | None = None
    manifests: dict[str, Answer] = field(default_factory=dict)
    manifests_by_reference: dict[tuple[str, str], Answer] = field(
        default_factory=dict
    )  # before ``manifests``
    blobs: dict[str, Answer] = field(default_factory=dict)
    blobs_by_digest: dict[str, Answer] = field(default_factory=dict)  # before ``blobs``
    storage: dict[str, Answer] = field(default_factory=dict)  # answers of 127.0.0.2, by path
    seen: list[Seen] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    token_status: int = 200
    accept_tokens: bool = True  # False: the registry refuses every token, even fresh ones
    token_expires_in: int | None = 300
    token_error: str = "invalid_token"  # the error="…" of a 401 on a token the registry does not take
    realm: str | None = None  # override the realm the registry names (default: its own /token)
    token_on_storage: bool = False  # 127.0.0.2 serves /token too (a realm on another host: ``storage_realm``)

    def __post_init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self.port = 0
        self.storage_port = 0

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> FakeUpstream:
        registry = web.Application()
        registry.router.add_route("*", "/token", self._token)
        registry.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", self._manifest)
        registry.router.add_route("*", "/v2/{name:.+}/blobs/{digest}", self._blob)
        registry.router.add_route("*", "/{tail:.*}", self._storage)  # relative redirects land here
        storage = web.Application()
        if self.token_on_storage:
            storage.router.add_route("*", "/token", self._token)
        storage.router.add_route("*", "/{tail:.*}", self._storage)
        self.port = await self._serve(registry, REGISTRY_HOST)
        self.storage_port = await self._serve(storage, STORAGE_HOST)
        return self

    async def _serve(self, app: web.Application, host: str) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, 0, ssl_context=self.ssl_context).start()
        self._runners.append(runner)
        port: int = runner.addresses[0][1]
        return port

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{REGISTRY_HOST}:{self.port}"

    @property
    def storage_url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{STORAGE_HOST}:{self.storage_port}"

    @property
    def storage_realm(self) -> str:
        """The token endpoint on the other host (served with ``token_on_storage``)."""
        return f"{self.storage_url}/token"

    def requests_to(self, host: str, path_prefix: str = "/") -> list[Seen]:
        return [s for s in self.seen if s.host == host and s.path.startswith(path_prefix)]

    @property
    def token_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/token"]

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as if it expired early)."""
        self.valid_tokens.clear()

    # --- handlers ------------------------------------------------------------------------------------

    def _record(self, request: web.Request) -> None:
        host = request.transport.get_extra_info("sockname")[0] if request.transport else "?"
        query = request.raw_path.partition("?")[2]
        headers = request.headers
        self.seen.append(
            Seen(
                request.method,
                host,
                request.path,
                query,
                headers.get("Authorization"),
                headers.get("Accept"),
                headers.get("Accept-Encoding"),
            )
        )

    def _challenge(self, request: web.Request) -> web.Response | None:
        """None when the request is authorised, else the 401 the registry answers."""
        header = request.headers.get("Authorization")
        if self.auth == "basic":
            assert self.credentials is not None
            if header == basic_header(*self.credentials):
                return None
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if self.auth == "bearer":
            token = (header or "").removeprefix("Bearer ")
            if header is not None and self.accept_tokens and token in self.valid_tokens:
                return None
            realm = self.realm or f"{self.url}/token"
            challenge = f'Bearer realm="{realm}",service="fake-registry",scope="repository:x:pull"'
            if header is not None:
                challenge += f',error="{self.token_error}"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        return None

    async def _token(self, request: web.Request) -> web.Response:
        self._record(request)
        if self.token_status != 200:
            return web.Response(status=self.token_status)
        if self.credentials is not None and request.headers.get("Authorization") != basic_header(
            *self.credentials
        ):
            return web.Response(status=401)
        token = f"tok-{secrets.token_hex(8)}"
        self.valid_tokens.add(token)
        body: dict[str, object] = {"token": token}
        if self.token_expires_in is not None:
            body["expires_in"] = self.token_expires_in
        return web.json_response(body)

    async def _answer(self, request: web.Request, answer: Answer | None) -> web.StreamResponse:
        if answer is None:
            return web.Response(status=404)
        if answer.redirect_to is not None:
            return web.Response(status=307, headers={"Location": answer.redirect_to})
        if answer.chunked:
            return await self._chunked(request, answer)
        # aiohttp sends no body to a HEAD but keeps the Content-Length of the one given
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def _chunked(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        if request.method == "HEAD" and answer.head_length:
            response.content_length = len(answer.body)
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        if request.method != "HEAD":
            for offset in range(0, len(answer.body), 64 * 1024):
                await response.write(answer.body[offset : offset + 64 * 1024])
        await response.write_eof()
        return response

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        name, reference = request.match_info["name"], request.match_info["ref"]
        answer = self.manifests_by_reference.get((name, reference)) or self.manifests.get(name)
        return self._challenge(request) or await self._answer(request, answer)

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        answer = self.blobs_by_digest.get(request.match_info["digest"]) or self.blobs.get(
            request.match_info["name"]
        )
        return self._challenge(request) or await self._answer(request, answer)

    async def _storage(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        return await self._answer(request, self.storage.get(request.path))


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- raw TCP misbehaviour --------------------------------------------------------------------------------

Script = Callable[[asyncio.StreamWriter, asyncio.Event], Awaitable[None]]
REQUEST_HEAD: contextvars.ContextVar[bytes] = contextvars.ContextVar("raw_request_head", default=b"")
"""The head of the request a ``RawUpstream`` script answers (each connection runs in its own task)."""


class RawUpstream:
    """A TCP server on 127.0.0.1 that reads each request head and then runs ``script`` on the connection."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._released = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawUpstream:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._released.set()  # let stalled scripts end
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            REQUEST_HEAD.set(await reader.readuntil(b"\r\n\r\n"))
            await self._script(writer, self._released)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


def never_answer() -> Script:
    """Accept the request and never send a byte (until the test ends)."""

    async def script(writer: asyncio.StreamWriter, released: asyncio.Event) -> None:
        await released.wait()

    return script


def partial_body(announced: int, sent: bytes, *, then_stall: bool) -> Script:
    """200 with ``Content-Length: announced``, then ``sent``; then either close or stall until released."""

    async def script(writer: asyncio.StreamWriter, released: asyncio.Event) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n\r\n"
        writer.write(head.encode() + sent)
        await writer.drain()
        if then_stall:
            await released.wait()

    return script


# --- certificates ----------------------------------------------------------------------------------------


def expired_server_context(directory: Path, host: str = REGISTRY_HOST) -> ssl.SSLContext:
    """A server SSL context whose self-signed certificate for ``host`` expired yesterday."""
    import ipaddress

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cargohold expired test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "expired.pem", directory / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def trickle(announced: int, *, every: float, byte: bytes = b"x") -> Script:
    """200 with ``Content-Length: announced``, then one byte every ``every`` seconds (a body that never
    stalls long enough for a read timeout, but would take ``announced * every`` seconds to arrive). Every
    connection is closed after it, so that a HEAD answered this way is not followed by another request on
    a connection still carrying bytes."""

    async def script(writer: asyncio.StreamWriter, released: asyncio.Event) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        if REQUEST_HEAD.get().startswith(b"HEAD "):
            return
        for _ in range(announced):
            if released.is_set():
                return
            writer.write(byte)
            await writer.drain()
            await asyncio.sleep(every)  # the pace of the trickle, not a synchronisation

    return script
