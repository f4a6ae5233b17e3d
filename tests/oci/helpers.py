"""Client-side helpers for the OCI conformance suite: a thin HTTP wrapper around aiohttp's test client that
checks every answer against the spec's global rules (never a 5xx; every error a JSON envelope with a spec
code), and small builders that read like the OCI distribution spec (push_blob, push_manifest, push_image,
random_image). Nothing here knows how cargohold is built: it speaks HTTP only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy
from yarl import URL

# --- media types and well-known content -----------------------------------------------------------------

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"

EMPTY_CONFIG: Final = b"{}"
EMPTY_CONFIG_DIGEST: Final = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024

# The spec's error-code table (distribution-spec v1.1, "Error Codes"). TAG_INVALID is the legacy Docker code
# that the brief accepts for a bad tag.
SPEC_ERROR_CODES: Final = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
        "TAG_INVALID",
    }
)
_CODE_RE: Final = re.compile(r"^[A-Z_]+$")
_LINK_RE: Final = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def digest_of(data: bytes) -> str:
    """The sha256 digest string of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_image(repository: str = "test") -> str:
    """A fresh ``<repository>/<image>`` name, two path components deep inside the repository."""
    return f"{repository}/team-{secrets.token_hex(3)}/img-{secrets.token_hex(4)}"


def random_blob(size: int = 1024) -> bytes:
    """``size`` random bytes: a blob no other test pushed."""
    return secrets.token_bytes(size)


def encode(document: dict[str, Any]) -> bytes:
    """Serialise a manifest with deliberately unusual formatting, so that a registry which re-serialises
    instead of keeping the exact bytes changes the digest and fails the test."""
    return json.dumps(document, indent=3, separators=(",", " : ")).encode() + b"\n"


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """An OCI content descriptor of ``data``."""
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


# --- HTTP ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One fully read response."""

    method: str
    url: URL
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error_codes(self) -> list[str]:
        """The ``code`` of every error in the JSON envelope."""
        return [str(error["code"]) for error in self.json()["errors"]]

    def location(self) -> URL:
        """The ``Location`` header resolved against the request URL (RFC 7231 section 7.1.2: it may be
        absolute or relative)."""
        assert "Location" in self.headers, f"{self.method} {self.url} -> {self.status} without Location"
        return self.url.join(URL(self.headers["Location"]))

    def next_link(self) -> URL | None:
        """The target of a ``Link: <…>; rel="next"`` header, resolved against the request URL."""
        header = self.headers.get("Link")
        if header is None:
            return None
        match = _LINK_RE.search(header)
        assert match is not None, f"Link header without rel=next: {header!r}"
        return self.url.join(URL(match.group(1)))

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status} {self.body[:300]!r}"


def basic_auth(username: str, password: str) -> str:
    """An ``Authorization: Basic`` header value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Registry:
    """The registry under test, spoken to over real HTTP.

    Every response is checked against the rules that hold for all of them: no 5xx, and every error
    (status >= 400, except on HEAD, which has no body) is the spec's JSON envelope whose codes come from
    the spec's table. Paths are sent exactly as written (no ``..`` or ``%2e`` normalisation).

    ``authorization`` is the ``Authorization`` header sent with every request that does not set its own
    (None: none, an anonymous client); ``as_(authorization)`` is the same registry spoken to with other
    credentials, sharing the connection and the history.
    """

    def __init__(
        self, client: TestClient[web.Request, web.Application], authorization: str | None = None
    ) -> None:
        self._client = client
        self.base = client.make_url("/")
        self.history: list[Reply] = []
        self.authorization = authorization

    def as_(self, authorization: str | None) -> Registry:
        """This registry with other credentials (None: anonymous); answers go into the same history."""
        other = Registry(self._client, authorization)
        other.history = self.history
        return other

    def url(self, path: str) -> URL:
        """An absolute URL for a raw path (and query) on the server under test."""
        return URL(str(self.base).rstrip("/") + path, encoded=True)

    async def request(
        self,
        method: str,
        target: str | URL,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        url = target if isinstance(target, URL) else self.url(target)
        if self.authorization is not None and not any(k.lower() == "authorization" for k in headers or {}):
            headers = {**(headers or {}), "Authorization": self.authorization}
        async with self._client.session.request(method, url, data=data, headers=headers) as response:
            body = await response.read()
            reply = Reply(method, url, response.status, response.headers, body)
        self.history.append(reply)
        check_reply(reply)
        return reply

    async def get(self, target: str | URL, *, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", target, headers=headers)

    async def head(self, target: str | URL, *, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("HEAD", target, headers=headers)

    async def delete(self, target: str | URL) -> Reply:
        return await self.request("DELETE", target)

    async def post(
        self, target: str | URL, data: bytes | None = None, *, headers: dict[str, str] | None = None
    ) -> Reply:
        return await self.request("POST", target, data=data, headers=headers)

    async def put(
        self, target: str | URL, data: bytes | None = None, *, headers: dict[str, str] | None = None
    ) -> Reply:
        return await self.request("PUT", target, data=data, headers=headers)

    async def patch(
        self, target: str | URL, data: bytes | None = None, *, headers: dict[str, str] | None = None
    ) -> Reply:
        return await self.request("PATCH", target, data=data, headers=headers)


def check_reply(reply: Reply) -> None:
    """The rules every response of the suite must follow."""
    assert reply.status < 500, f"server error: {reply}"
    if reply.status < 400 or reply.method == "HEAD":
        return
    content_type = reply.headers.get("Content-Type", "")
    assert content_type.split(";")[0].strip() == "application/json", f"error is not JSON: {reply}"
    envelope = reply.json()
    assert isinstance(envelope, dict), f"error body is not an object: {reply}"
    errors = envelope.get("errors")
    assert isinstance(errors, list), f"error without an errors list: {reply}"
    assert errors, f"empty errors list: {reply}"
    for error in errors:
        assert isinstance(error, dict), f"error entry is not an object: {reply}"
        code = error.get("code")
        assert isinstance(code, str), f"error entry without a code: {reply}"
        assert _CODE_RE.match(code), f"code {code!r} is not uppercase letters and underscores: {reply}"
        if reply.status != 416:
            # No code in the spec's table fits "requested range not satisfiable", so a 416 may carry any
            # well-formed code; everywhere else the spec says the code MUST be one from its table.
            assert code in SPEC_ERROR_CODES, f"code {code!r} is not in the spec's table: {reply}"
        if "message" in error:
            assert isinstance(error["message"], str), f"message is not a string: {reply}"


def expect_error(reply: Reply, status: int | set[int], *codes: str) -> None:
    """Assert ``reply`` has one of the statuses and its envelope carries one of ``codes``."""
    statuses = {status} if isinstance(status, int) else status
    assert reply.status in statuses, f"expected {sorted(statuses)}: {reply}"
    if reply.method != "HEAD" and codes:
        found = reply.error_codes()
        assert set(found) & set(codes), f"expected one of {codes}, got {found}: {reply}"


# --- workflows -------------------------------------------------------------------------------------------


async def start_upload(registry: Registry, name: str) -> Reply:
    """``POST /v2/<name>/blobs/uploads/``; asserts the 202 and its headers."""
    reply = await registry.post(f"/v2/{name}/blobs/uploads/", b"", headers={"Content-Length": "0"})
    assert reply.status == 202, str(reply)
    assert reply.headers.get("Location"), str(reply)
    return reply


async def push_blob(registry: Registry, name: str, data: bytes) -> str:
    """Push ``data`` as a blob of ``name`` by POST then PUT; return its digest."""
    digest = digest_of(data)
    session = await start_upload(registry, name)
    reply = await registry.put(
        session.location().update_query(digest=digest),
        data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert reply.status == 201, str(reply)
    assert reply.headers.get("Docker-Content-Digest") == digest, str(reply)
    return digest


async def push_manifest(registry: Registry, name: str, reference: str, body: bytes, media_type: str) -> Reply:
    """``PUT /v2/<name>/manifests/<reference>``; asserts the 201, Location and Docker-Content-Digest."""
    reply = await put_manifest(registry, name, reference, body, media_type)
    assert reply.status == 201, str(reply)
    assert reply.headers.get("Location"), str(reply)
    assert reply.headers.get("Docker-Content-Digest") == digest_of(body), str(reply)
    return reply


async def put_manifest(registry: Registry, name: str, reference: str, body: bytes, media_type: str) -> Reply:
    """``PUT /v2/<name>/manifests/<reference>`` without asserting the outcome."""
    return await registry.put(f"/v2/{name}/manifests/{reference}", body, headers={"Content-Type": media_type})


@dataclass(frozen=True)
class PushedImage:
    """An OCI image pushed by ``push_image``."""

    name: str
    config: bytes
    layer: bytes
    manifest: bytes
    digest: str
    media_type: str = OCI_MANIFEST


async def push_image(
    registry: Registry, name: str, tag: str | None = "latest", *, annotations: dict[str, str] | None = None
) -> PushedImage:
    """Push a one-layer OCI image to ``name``: config and layer blobs, then the manifest, by ``tag`` (or by
    digest when ``tag`` is None)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": secrets.token_hex(8)}).encode()
    layer = random_blob(512)
    await push_blob(registry, name, config)
    await push_blob(registry, name, layer)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
    }
    if annotations:
        document["annotations"] = annotations
    manifest = encode(document)
    digest = digest_of(manifest)
    await push_manifest(registry, name, tag or digest, manifest, OCI_MANIFEST)
    return PushedImage(name, config, layer, manifest, digest)


async def push_artifact(
    registry: Registry,
    name: str,
    subject: PushedImage | None,
    *,
    artifact_type: str | None = "application/vnd.example.sbom.v1",
    annotations: dict[str, str] | None = None,
    subject_digest: str | None = None,
) -> tuple[bytes, Reply]:
    """Push an artifact manifest (empty config, one layer, ``subject``) by digest; return its bytes and the
    PUT reply."""
    await push_blob(registry, name, EMPTY_CONFIG)
    payload = random_blob(64)
    await push_blob(registry, name, payload)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": 2},
        "layers": [descriptor("application/vnd.example.payload", payload)],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    target = subject_digest or (subject.digest if subject else None)
    if target is not None:
        size = len(subject.manifest) if subject else 1234
        document["subject"] = {"mediaType": OCI_MANIFEST, "digest": target, "size": size}
    if annotations:
        document["annotations"] = annotations
    body = encode(document)
    reply = await push_manifest(registry, name, digest_of(body), body, OCI_MANIFEST)
    return body, reply
