"""``ProxyProbe``, the "test connection" button: against real Distribution upstreams (plain HTTP, TLS with a
self-signed certificate and htpasswd, token auth) and fake upstreams for certificates Distribution will not
serve (expired, for another host, from an unknown authority). Every answer names each step's outcome and
never a password or a token."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import json
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cargohold.errors import NameUnknownError, ProxyUnknownError, ValidationFailedError
from cargohold.metadata.sql import Metadata
from cargohold.models import Proxy, Repository
from cargohold.proxy.probe import ProbeResult, ProxyProbe
from cargohold.registry.repositories import ProxySettings
from tests.proxy_e2e.upstreams import closed_port
from tests.support.distribution import DistributionRegistry
from tests.support.fake_upstream import FakeUpstream, basic_header, expired_server_context
from tests.support.fixtures import DistributionFactory
from tests.support.tls import make_self_signed
from tests.support.token_server import TokenServer

CREDENTIALS = ("alice", "s3cret-pass-word")
STEPS = ["resolve+connect", "tls", "auth", "ping"]


def changed(settings: ProxySettings, **values: object) -> ProxySettings:
    """``settings`` with some values replaced, validated again."""
    return ProxySettings.model_validate({**settings.model_dump(), **values})


@pytest.fixture
def probe(metadata: Metadata) -> ProxyProbe:
    return ProxyProbe(metadata.repositories, read_timeout=5.0)


def steps(result: ProbeResult) -> dict[str, tuple[bool, str]]:
    return {step.name: (step.ok, step.detail) for step in result.steps}


def assert_no_secret(result: ProbeResult, *secrets: str) -> None:
    text = repr(result) + json.dumps(dataclasses.asdict(result))
    for secret in secrets:
        assert secret not in text


async def push_image(upstream: DistributionRegistry, name: str, tag: str) -> tuple[str, int]:
    """Push a one-layer OCI image over the registry API (Basic credentials and TLS as the upstream has)."""
    headers = {"Authorization": basic_header(*upstream.credentials)} if upstream.credentials else {}
    context = upstream.tls.client_context() if upstream.tls else None
    blobs = [
        b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
        b"layer" * 100,
    ]
    digests = ["sha256:" + hashlib.sha256(blob).hexdigest() for blob in blobs]
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(ssl=context or False)
    ) as session:
        for blob, digest in zip(blobs, digests, strict=True):
            async with session.post(f"{upstream.url}/v2/{name}/blobs/uploads/") as started:
                assert started.status == 202, await started.text()
                location = started.headers["Location"]
            put_url = f"{location}{'&' if '?' in location else '?'}digest={digest}"
            if location.startswith("/"):
                put_url = upstream.url + put_url
            async with session.put(put_url, data=blob) as done:
                assert done.status == 201, await done.text()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digests[0],
                    "size": len(blobs[0]),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": digests[1],
                        "size": len(blobs[1]),
                    }
                ],
            }
        ).encode()
        content_type = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        url = f"{upstream.url}/v2/{name}/manifests/{tag}"
        async with session.put(url, data=manifest, headers=content_type) as put:
            assert put.status == 201, await put.text()
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), len(manifest)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def private_ca_context(directory: Path) -> ssl.SSLContext:
    """A server certificate for 127.0.0.1 issued by a private CA nobody trusts."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cargohold private CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "leaf.pem", directory / "leaf.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return server_context(cert_path, key_path)


# --- real Distribution upstreams ----------------------------------------------------------------------------


async def test_plain_http_anonymous_registry_with_lookup(
    distribution_factory: DistributionFactory, probe: ProxyProbe
) -> None:
    upstream = distribution_factory()
    digest, size = await push_image(upstream, "team/app", "1.0")
    result = await probe.test_settings(ProxySettings(name="plain", url=upstream.url), image="team/app:1.0")
    assert result.ok, result
    assert [step.name for step in result.steps] == [*STEPS, "lookup"]
    found = steps(result)
    assert f"connected to 127.0.0.1:{upstream.port}" in found["resolve+connect"][1]
    assert "plain http" in found["tls"][1]
    assert found["auth"][1].startswith("anonymous")
    assert "HTTP 200" in found["ping"][1]
    assert "registry/2.0" in found["ping"][1]
    assert found["lookup"] == (
        True,
        f"team/app:1.0: found {digest} (application/vnd.oci.image.manifest.v1+json, {size} bytes)",
    )
    assert all(step.elapsed_ms >= 0 for step in result.steps)
    assert result.elapsed_ms >= max(step.elapsed_ms for step in result.steps)

    missing = await probe.test_settings(ProxySettings(name="plain", url=upstream.url), image="team/app")
    assert not missing.ok
    assert steps(missing)["lookup"] == (False, "team/app:latest: not found")
    assert all(ok for name, (ok, _) in steps(missing).items() if name != "lookup")
    by_digest = await probe.test_settings(
        ProxySettings(name="plain", url=upstream.url), image=f"team/app@{digest}"
    )
    assert steps(by_digest)["lookup"][0]


async def test_self_signed_tls_with_basic_auth(
    distribution_factory: DistributionFactory, probe: ProxyProbe
) -> None:
    upstream = distribution_factory(tls=True, credentials=CREDENTIALS)
    await push_image(upstream, "team/app", "latest")
    user, password = CREDENTIALS
    settings = ProxySettings(name="company", url=upstream.url, username=user, password=password)

    strict = await probe.test_settings(settings, image="team/app")
    assert not strict.ok
    found = steps(strict)
    assert found["resolve+connect"][0]
    assert found["tls"] == (False, "certificate of 127.0.0.1 rejected: it is self-signed")
    assert found["auth"] == (False, "not run: tls failed")
    assert found["lookup"] == (False, "not run: tls failed")

    lax = await probe.test_settings(changed(settings, ssl_validation=False), image="team/app")
    assert lax.ok, lax
    found = steps(lax)
    assert "not verified (ssl_validation is off)" in found["tls"][1]
    assert "self-signed" in found["tls"][1]
    assert found["auth"] == (True, "basic: credentials of user 'alice' accepted")
    assert "found sha256:" in found["lookup"][1]
    assert_no_secret(lax, password)

    wrong = await probe.test_settings(changed(settings, ssl_validation=False, password="not-the-password"))
    assert not wrong.ok
    assert steps(wrong)["auth"] == (
        False,
        "basic: the registry refused the username or password of user 'alice'",
    )
    assert steps(wrong)["ping"] == (False, "not run: auth failed")
    assert_no_secret(wrong, "not-the-password")

    anonymous = await probe.test_settings(
        ProxySettings(name="company", url=upstream.url, ssl_validation=False)
    )
    ok, detail = steps(anonymous)["auth"]
    assert not ok
    assert "requires credentials, none configured" in detail


async def test_bearer_token_flow(
    distribution_factory: DistributionFactory, probe: ProxyProbe, tmp_path: Path
) -> None:
    users = {"alice": "alice-pass"}
    async with TokenServer(
        tmp_path / "tokens", users=users, acl={"": [], "alice": [("*", ["pull"])]}
    ) as tokens:
        upstream = distribution_factory(extra_config=tokens.distribution_config())
        realm = f"127.0.0.1:{tokens.port}/token"
        with_user = await probe.test_settings(
            ProxySettings(name="tok", url=upstream.url, username="alice", password="alice-pass")
        )
        assert with_user.ok, with_user
        assert steps(with_user)["auth"] == (
            True,
            f"bearer: token from {realm} issued to user 'alice', accepted",
        )
        anonymous = await probe.test_settings(ProxySettings(name="tok", url=upstream.url))
        assert anonymous.ok, anonymous
        assert steps(anonymous)["auth"] == (True, f"bearer: token from {realm} issued to anonymous, accepted")
        refused = await probe.test_settings(
            ProxySettings(name="tok", url=upstream.url, username="alice", password="wrong-pass")
        )
        assert not refused.ok
        ok, detail = steps(refused)["auth"]
        assert not ok
        assert "refused the credentials (401)" in detail
        assert_no_secret(refused, "wrong-pass")
        assert_no_secret(with_user, "alice-pass", "eyJ")  # nor the JWT Distribution accepted


# --- certificates Distribution will not serve ---------------------------------------------------------------


async def test_expired_certificate_is_named(probe: ProxyProbe, tmp_path: Path) -> None:
    async with FakeUpstream(ssl_context=expired_server_context(tmp_path / "tls")) as fake:
        result = await probe.test_settings(ProxySettings(name="old", url=fake.url))
    assert steps(result)["tls"] == (
        False,
        "certificate of 127.0.0.1 rejected: it is self-signed; it has expired",
    )


async def test_certificate_for_another_host_is_named(probe: ProxyProbe, tmp_path: Path) -> None:
    files = make_self_signed(tmp_path / "tls", hosts=("127.0.0.1",))
    async with FakeUpstream(ssl_context=server_context(files.cert, files.key)) as fake:
        result = await probe.test_settings(ProxySettings(name="named", url=f"https://localhost:{fake.port}"))
    assert steps(result)["resolve+connect"][0], result
    assert steps(result)["tls"] == (
        False,
        "certificate of localhost rejected: it is self-signed; "
        "it is not valid for localhost (host name mismatch)",
    )


async def test_unknown_certificate_authority_is_named(probe: ProxyProbe, tmp_path: Path) -> None:
    async with FakeUpstream(ssl_context=private_ca_context(tmp_path / "ca")) as fake:
        result = await probe.test_settings(ProxySettings(name="private", url=fake.url))
        lax = await probe.test_settings(ProxySettings(name="private", url=fake.url, ssl_validation=False))
    assert steps(result)["tls"] == (
        False,
        "certificate of 127.0.0.1 rejected: it is issued by an unknown certificate authority",
    )
    ok, detail = steps(lax)["tls"]
    assert ok
    assert "would fail: it is issued by an unknown certificate authority" in detail


# --- unreachable ------------------------------------------------------------------------------------------


async def test_nothing_listening(probe: ProxyProbe) -> None:
    port = closed_port()
    result = await probe.test_settings(ProxySettings(name="down", url=f"http://127.0.0.1:{port}"), image="x")
    assert not result.ok
    ok, detail = steps(result)["resolve+connect"]
    assert not ok
    assert f"cannot connect to 127.0.0.1:{port}" in detail
    assert [step.detail for step in result.steps[1:]] == ["not run: resolve+connect failed"] * 4


async def test_unresolvable_host(probe: ProxyProbe) -> None:
    result = await probe.test_settings(
        ProxySettings(name="nowhere", url="https://no-such-host.invalid", connection_timeout_ms=3000)
    )
    ok, detail = steps(result)["resolve+connect"]
    assert not ok
    assert "resolv" in detail
    assert "no-such-host.invalid" in detail


# --- saved proxies and bad input ---------------------------------------------------------------------------


async def test_a_saved_proxy_is_probed_with_its_stored_credentials(
    distribution_factory: DistributionFactory, metadata: Metadata, probe: ProxyProbe
) -> None:
    upstream = distribution_factory(tls=True, credentials=CREDENTIALS)
    user, password = CREDENTIALS
    saved = Proxy("company", upstream.url, username=user, password=password, ssl_validation=False)
    await metadata.repositories.create_repository(Repository(name="hub"), [saved])
    result = await probe.test("hub", "company")
    assert result.ok, result
    assert [step.name for step in result.steps] == STEPS
    assert_no_secret(result, password)
    with pytest.raises(ProxyUnknownError):
        await probe.test("hub", "ghost")
    with pytest.raises(NameUnknownError):
        await probe.test("ghost", "company")


@pytest.mark.parametrize("image", ["Bad Name", "app:bad tag!", "app@sha256:123", ""])
async def test_bad_image_is_a_validation_error(probe: ProxyProbe, image: str) -> None:
    with pytest.raises(ValidationFailedError) as error:
        await probe.test_settings(ProxySettings(name="x", url="http://127.0.0.1:1"), image=image)
    assert error.value.field == "image"


async def test_bad_settings_are_validation_errors(probe: ProxyProbe) -> None:
    with pytest.raises(ValidationFailedError) as error:
        await probe.test_settings(ProxySettings(name="x", url="registry.example.com"))
    assert error.value.field == "url"
