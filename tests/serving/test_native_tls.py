"""Native TLS as users meet it: skopeo and podman push and pull over cargohold's own HTTPS with its CA
trusted through a per-test ``--cert-dir`` (never ``--tls-verify=false``), a certificate that comes as a
chain, the self-signed lab mode end to end (generated once, kept across restarts, trusted as printed), the
token realm and the protocol versions on offer, and a certificate the server cannot use refused at start
with a clear message instead of a traceback."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.clients import ContainerTools, ToolError
from tests.support.fixtures import CargoholdFactory
from tests.support.images import write_image
from tests.support.server import CargoholdServer, cargohold_executable, write_config
from tests.support.tls import make_chain

pytestmark = pytest.mark.clients

PRIVATE = [{"name": "team", "visibility": "private"}]


def push_and_pull(server: CargoholdServer, tools: ContainerTools, cert_dir: Path, tmp_path: Path) -> None:
    """skopeo pushes an image into the private repository and podman pulls it back, both over verified TLS
    and the token flow (whose realm must be this https server for the clients to follow it)."""
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(4096, 300_000), seed=41)
    name = server.ref("team", "app", "1.0")
    tools.skopeo(
        "copy", "--dest-cert-dir", str(cert_dir), "--dest-creds", server.admin_creds,
        f"oci:{image.reference}", f"docker://{name}",
    )  # fmt: skip
    tools.add_credentials(server.host, *server.admin)
    tools.podman("pull", "--cert-dir", str(cert_dir), name)
    info = tools.podman_inspect(name)
    manifest = image.manifests[0]
    assert f"sha256:{info['Id']}" == manifest.config.digest
    assert info["RootFS"]["Layers"] == list(manifest.diff_ids)


def challenge_realm(server: CargoholdServer, cafile: Path) -> str:
    context = ssl.create_default_context(cafile=str(cafile))
    request = urllib.request.Request(f"{server.url}/v2/team/app/manifests/1.0")  # noqa: S310
    try:
        urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310
    except urllib.error.HTTPError as error:
        found = re.search(r'realm="([^"]+)"', error.headers["WWW-Authenticate"])
        assert found is not None
        return found[1]
    raise AssertionError("an anonymous read of a private repository was not challenged")


def test_skopeo_and_podman_over_tls_with_a_certificate_chain(
    cargohold_factory: CargoholdFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    files = make_chain(tmp_path / "tls")
    server = cargohold_factory(
        PRIVATE, extra_config={"tls": {"certificate": str(files.cert), "key": str(files.key)}}, https=True
    )
    assert challenge_realm(server, files.cert_dir / "ca.crt") == f"https://{server.host}/v2/token"
    push_and_pull(server, container_tools, files.cert_dir, tmp_path)

    # the clients really verify: without the CA the same pull fails on the certificate
    with pytest.raises(ToolError, match="certificate"):
        container_tools.skopeo(
            "inspect", "--creds", server.admin_creds, server.docker_ref("team", "app", "1.0")
        )


def test_the_certificate_files_can_come_from_flags_and_environment(
    cargohold_factory: CargoholdFactory, tmp_path: Path
) -> None:
    files = make_chain(tmp_path / "tls")
    server = cargohold_factory(
        PRIVATE,
        extra_args=["--tls-certificate", str(files.cert)],
        env={"CARGOHOLD_TLS__KEY": str(files.key)},
        https=True,
    )
    assert challenge_realm(server, files.cert_dir / "ca.crt") == f"https://{server.host}/v2/token"


def test_self_signed_mode_is_generated_once_trusted_as_printed_and_kept(
    cargohold_factory: CargoholdFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    server = cargohold_factory(PRIVATE, extra_config={"tls": {"self_signed": True}}, https=True)
    ca = server.data_dir / "tls" / "ca.crt"
    log = server.service.log_text()
    assert str(ca.resolve()) in log
    assert f"/etc/docker/certs.d/{server.host}/ca.crt" in log
    assert f"/etc/containers/certs.d/{server.host}/ca.crt" in log
    # what an operator does with the printed CA: a certs.d directory for the clients
    cert_dir = tmp_path / "certs.d" / server.host
    cert_dir.mkdir(parents=True)
    (cert_dir / "ca.crt").write_bytes(ca.read_bytes())
    push_and_pull(server, container_tools, cert_dir, tmp_path)
    ca_bytes, server_cert = ca.read_bytes(), (server.data_dir / "tls" / "server.crt").read_bytes()

    # a restart on the same data keeps the CA and the certificate, so clients keep trusting it
    assert server.stop() == 0
    again = start_again(server, cargohold_factory, tmp_path)
    assert ca.read_bytes() == ca_bytes
    assert (server.data_dir / "tls" / "server.crt").read_bytes() == server_cert
    container_tools.podman("rmi", "--all")
    container_tools.add_credentials(again.host, *again.admin)
    container_tools.podman("pull", "--cert-dir", str(cert_dir), again.ref("team", "app", "1.0"))


def start_again(server: CargoholdServer, factory: CargoholdFactory, tmp_path: Path) -> CargoholdServer:
    """A new server on the same data directory and configuration (a new port)."""
    assert server.config_path is not None
    config = yaml.safe_load(server.config_path.read_text())
    return factory(
        config.pop("repositories"),
        extra_config=config,
        extra_args=["--data-dir", str(server.data_dir)],
        https=True,
    )


def handshake(port: int, cafile: Path, version: ssl.TLSVersion) -> tuple[str, str]:
    """(protocol, cipher) a client limited to ``version`` agrees on with the server."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        cipher = tls.cipher()
        assert cipher is not None
        return cipher[1], cipher[0]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_2_and_1_3_with_forward_secret_ciphers_only_and_keep_alive(
    cargohold_factory: CargoholdFactory, tmp_path: Path
) -> None:
    files = make_chain(tmp_path / "tls")
    server = cargohold_factory(
        extra_config={"tls": {"certificate": str(files.cert), "key": str(files.key)}}, https=True
    )
    cafile = files.cert_dir / "ca.crt"
    assert handshake(server.port, cafile, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
    protocol, cipher = handshake(server.port, cafile, ssl.TLSVersion.TLSv1_2)
    assert protocol == "TLSv1.2"
    assert cipher.startswith(("ECDHE-", "DHE-")), cipher
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher
    # a client that offers only TLS 1.1 (at OpenSSL's lowest security level, so that it can) is refused
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_ciphers("ALL:@SECLEVEL=0")
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname="127.0.0.1")
    # HTTP/1.1 keep-alive: two requests on one connection
    context = ssl.create_default_context(cafile=str(cafile))
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context)
    connection.request("GET", "/v2/")
    first = connection.getresponse()
    first.read()
    sock = connection.sock
    connection.request("GET", "/v2/")
    assert connection.getresponse().status == first.status == 401  # /v2/ asks anonymous clients to sign in
    assert connection.sock is sock
    connection.close()


def run_serve(tmp_path: Path, tls: dict[str, object]) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path / "config.yml", [], {"tls": tls})
    return subprocess.run(
        [str(cargohold_executable()), "serve", "--config", str(config), "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("garbage", r"tls: cannot use certificate .*cert\.pem"),
        ("missing key", r"tls\.key: cannot read .*nothing\.pem"),
        ("wrong key", r"tls: cannot use certificate .*KEY_VALUES_MISMATCH|key values mismatch"),
    ],
)
def test_a_certificate_the_server_cannot_use_is_a_clear_start_up_error(
    tmp_path: Path, problem: str, expected: str
) -> None:
    files = make_chain(tmp_path / "tls")
    other = make_chain(tmp_path / "other")
    tls: dict[str, object] = {"certificate": str(files.cert), "key": str(files.key)}
    if problem == "garbage":
        files.cert.write_text("not a certificate\n")
    elif problem == "missing key":
        tls["key"] = str(tmp_path / "nothing.pem")
    else:
        tls["key"] = str(other.key)
    result = run_serve(tmp_path, tls)
    assert result.returncode == 2, result.stderr
    assert re.search(expected, result.stderr, re.IGNORECASE), result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stderr


def test_a_self_signed_ca_that_cannot_be_read_is_a_clear_start_up_error(tmp_path: Path) -> None:
    tls = tmp_path / "data" / "tls"
    tls.mkdir(parents=True)
    (tls / "ca.crt").write_text("not a certificate\n")
    (tls / "ca.key").write_text("not a key\n")
    result = run_serve(tmp_path, {"self_signed": True})
    assert result.returncode == 2, result.stderr
    assert f"tls.self_signed: cannot make or read the certificate in {tls}" in result.stderr
    assert "Traceback" not in result.stderr
