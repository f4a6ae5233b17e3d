"""cargohold behind a real nginx that terminates TLS (the recipe of docs/operations.md), with nginx as its
only trusted proxy: skopeo pushes and podman pulls through nginx, the token realm and upload locations
point at nginx's address, and the sign-in limits count the client nginx names, so one client's guessing
does not lock out another (clients connect from different loopback addresses, 127.0.0.2 and 127.0.0.3)."""

from __future__ import annotations

import base64
import http.client
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.accounts import Accounts
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory
from tests.support.images import write_image
from tests.support.nginx import Nginx, start_nginx
from tests.support.server import CargoholdServer
from tests.support.tls import TlsFiles, make_self_signed

pytestmark = pytest.mark.clients

REPOSITORIES: list[dict[str, Any]] = [{"name": "team", "visibility": "private"}]
ALICE, ALICE_PASSWORD = "alice", "alice-password-1"


@pytest.fixture
def tls(tmp_path: Any) -> TlsFiles:
    return make_self_signed(tmp_path / "nginx-tls")


@pytest.fixture
def cargohold_server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    server = cargohold_factory(REPOSITORIES, extra_config={"trusted_proxies": ["127.0.0.1"]})
    Accounts(server).create_user(ALICE, ALICE_PASSWORD, grants={"team": "read"})
    return server


@pytest.fixture
def nginx(cargohold_server: CargoholdServer, tls: TlsFiles, tmp_path: Any) -> Iterator[Nginx]:
    proxy = start_nginx(tmp_path / "nginx", cargohold_server.host, tls)
    yield proxy
    assert proxy.stop() == 0


def request(
    nginx: Nginx, tls: TlsFiles, method: str, path: str, *, client: str = "127.0.0.1", auth: str | None = None
) -> http.client.HTTPResponse:
    """One request through nginx from the loopback address ``client``."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", nginx.service.port, context=tls.client_context(), source_address=(client, 0), timeout=30
    )
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_push_and_pull_through_nginx_with_its_address_in_every_generated_url(
    cargohold_server: CargoholdServer,
    nginx: Nginx,
    tls: TlsFiles,
    container_tools: ContainerTools,
    tmp_path: Any,
) -> None:
    challenge = request(nginx, tls, "GET", "/v2/team/app/manifests/1.0").headers["WWW-Authenticate"]
    assert re.search(r'realm="([^"]+)"', challenge)[1] == f"https://{nginx.host}/v2/token"  # type: ignore[index]
    upload = request(nginx, tls, "POST", "/v2/team/app/blobs/uploads/", auth=cargohold_server.admin_creds)
    assert upload.status == 202
    location = upload.headers["Location"]
    assert location.startswith(("/v2/team/app/blobs/uploads/", f"https://{nginx.host}/v2/")), location

    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(4096, 6_000_000), seed=51)
    name = nginx.ref("team", "app", "1.0")
    container_tools.skopeo(
        "copy", "--dest-cert-dir", str(tls.cert_dir), "--dest-creds", cargohold_server.admin_creds,
        f"oci:{image.reference}", f"docker://{name}",
    )  # fmt: skip
    container_tools.add_credentials(nginx.host, ALICE, ALICE_PASSWORD)
    container_tools.podman("pull", "--cert-dir", str(tls.cert_dir), name)
    info = container_tools.podman_inspect(name)
    manifest = image.manifests[0]
    assert f"sha256:{info['Id']}" == manifest.config.digest
    assert info["RootFS"]["Layers"] == list(manifest.diff_ids)
    # cargohold saw the requests come from nginx's client, over https, and logged that client
    assert re.search(
        r"cargohold\.access\[\d+\]: 127\.0\.0\.1 \"PUT /v2/team/app/manifests/1\.0",
        cargohold_server.service.log_text(),
    )


def test_sign_in_limits_count_the_client_nginx_names(
    cargohold_server: CargoholdServer, nginx: Nginx, tls: TlsFiles
) -> None:
    def sign_in(client: str, password: str) -> int:
        return request(nginx, tls, "GET", "/v2/", client=client, auth=f"{ALICE}:{password}").status

    statuses = []
    for attempt in range(30):
        statuses.append(sign_in("127.0.0.2", f"guess {attempt}"))
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses
    assert sign_in("127.0.0.2", ALICE_PASSWORD) == 429  # the guesser is refused for alice
    assert sign_in("127.0.0.3", ALICE_PASSWORD) == 200  # alice, from her own address, is not
    logged(cargohold_server, r"127\.0\.0\.2 \"GET /v2/ HTTP/1\.1\" 429")
    logged(cargohold_server, r"127\.0\.0\.3 \"GET /v2/ HTTP/1\.1\" 200")


def logged(server: CargoholdServer, access: str) -> None:
    """Wait (with a deadline) for an access log line: it is written just after the response went out."""
    pattern = re.compile(rf"cargohold\.access\[\d+\]: {access}")
    deadline = time.monotonic() + 10
    while not pattern.search(server.service.log_text()):
        assert time.monotonic() < deadline, f"no access log line {access!r}"
        time.sleep(0.05)
