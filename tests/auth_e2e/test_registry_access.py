"""The /v2 API of a running cargohold as a security reviewer would probe it, over plain HTTP: the Docker
token flow, a registry token used beyond its scope, anonymous requests into a private repository that
must never reach its proxy, someone else's upload session, bad names and an oversized manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import MANIFEST_ACCEPT, seed_upstream, upstream_requests
from tests.support.accounts import Accounts, Reply, basic, bearer, call
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.server import CargoholdServer

REPOSITORIES: list[dict[str, Any]] = [
    {"name": "public", "visibility": "public"},
    {"name": "alpha", "visibility": "private"},
    {"name": "beta", "visibility": "private"},
]
ALICE, ALICE_PASSWORD = "alice", "alice-password-1"
BOB, BOB_PASSWORD = "bob", "bob-password-1"


@pytest.fixture
def server(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    server = cargohold_factory(REPOSITORIES)
    accounts = Accounts(server)
    accounts.create_user(ALICE, ALICE_PASSWORD, grants={"alpha": "write", "beta": "write", "public": "write"})
    accounts.create_user(BOB, BOB_PASSWORD, grants={"alpha": "write"})
    return server


def _v2(server: CargoholdServer, path: str, **kwargs: Any) -> Reply:
    return call(f"{server.url}/v2/{path}", **kwargs)


def _push_blob(server: CargoholdServer, name: str, data: bytes, auth: dict[str, str]) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = _v2(server, f"{name}/blobs/uploads/", method="POST", headers=auth, data=b"")
    assert started.status == 202, started
    location = started.headers["Location"]
    done = call(f"{server.url}{location}?digest={digest}", method="PUT", headers=auth, data=data)
    assert done.status == 201, done
    return digest


def _push_image(server: CargoholdServer, name: str, tag: str, auth: dict[str, str]) -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux", "name": name}).encode()
    layer = hashlib.sha256(name.encode()).digest() * 64
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _push_blob(server, name, config, auth),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _push_blob(server, name, layer, auth),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    headers = {**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    put = _v2(server, f"{name}/manifests/{tag}", method="PUT", headers=headers, data=manifest)
    assert put.status == 201, put
    return manifest


def _challenge(reply: Reply) -> str:
    assert reply.status == 401, reply
    assert reply.error_codes() == ["UNAUTHORIZED"], reply
    return reply.headers["WWW-Authenticate"]


def test_the_docker_token_flow_grants_only_what_the_caller_may_do(server: CargoholdServer) -> None:
    accounts = Accounts(server)
    alice = basic(ALICE, ALICE_PASSWORD)
    _push_image(server, "alpha/app", "1.0", alice)
    realm = f'Bearer realm="{server.url}/v2/token",service="cargohold"'

    assert _challenge(_v2(server, "")) == realm
    assert _v2(server, "", headers=alice).status == 200
    assert _challenge(_v2(server, "alpha/app/manifests/1.0", headers={"Accept": MANIFEST_ACCEPT})) == (
        realm + ',scope="repository:alpha/app:pull"'
    )

    anonymous = accounts.registry_token(["repository:alpha/app:pull", "repository:public/app:pull"])
    assert anonymous.status == 200, anonymous
    document = anonymous.json()
    assert document["token"] == document["access_token"]
    assert document["expires_in"] == 300
    refused = _v2(server, "alpha/app/manifests/1.0", headers=bearer(document["token"]))
    assert 'error="insufficient_scope"' in _challenge(refused)

    granted = accounts.registry_token(["repository:alpha/app:pull,push"], basic(BOB, BOB_PASSWORD))
    token = granted.json()["token"]
    assert _v2(server, "alpha/app/manifests/1.0", headers=bearer(token)).status == 200

    wrong = accounts.registry_token(["repository:alpha/app:pull"], basic(BOB, "not-bobs-password"))
    assert wrong.status == 401


def test_a_token_for_one_repository_does_not_open_another(server: CargoholdServer) -> None:
    alice = basic(ALICE, ALICE_PASSWORD)
    _push_image(server, "alpha/app", "1.0", alice)
    _push_image(server, "beta/app", "1.0", alice)
    accounts = Accounts(server)
    # alice may pull both, but this token was asked (and issued) for alpha only
    token = accounts.registry_token(["repository:alpha/app:pull"], alice).json()["token"]

    assert _v2(server, "alpha/app/manifests/1.0", headers=bearer(token)).status == 200
    beta = _v2(server, "beta/app/manifests/1.0", headers=bearer(token))
    assert 'error="insufficient_scope"' in _challenge(beta)
    push = _v2(server, "alpha/app/blobs/uploads/", method="POST", headers=bearer(token), data=b"")
    assert 'scope="repository:alpha/app:pull,push"' in _challenge(push)
    # bob's token never holds beta, whatever he asks for
    bob = accounts.registry_token(["repository:beta/app:pull,push"], basic(BOB, BOB_PASSWORD)).json()
    assert _v2(server, "beta/app/manifests/1.0", headers=bearer(bob["token"])).status == 401
    assert _v2(server, "beta/app/manifests/1.0", headers=basic(BOB, BOB_PASSWORD)).error_codes() == ["DENIED"]


def test_anonymous_requests_for_a_private_repository_never_reach_its_proxy(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(container_tools, upstream, tmp_path / "layout", "team/app", "1.0", seed=41)
    proxies = [{"name": "origin", "url": upstream.url}]
    server = cargohold_factory(
        [{"name": "mirror", "visibility": "private", "proxies": proxies, "hosts": ["upstream.example"]}]
    )
    before = len(upstream_requests(upstream))

    for path in (
        "mirror/team/app/manifests/1.0",
        f"mirror/team/app/manifests/{image.digest}",
        f"mirror/team/app/blobs/{image.manifests[0].layer_digests[0]}",
        "team/app/manifests/1.0?ns=upstream.example",
        "upstream.example/team/app/manifests/1.0",
        "mirror/team/app/tags/list",
    ):
        for method in ("GET", "HEAD") if "/tags/" not in path else ("GET",):
            reply = _v2(server, path, method=method, headers={"Accept": MANIFEST_ACCEPT})
            assert reply.status == 401, (method, path, reply)
            assert reply.headers["WWW-Authenticate"].startswith("Bearer ")
    assert upstream_requests(upstream)[before:] == []

    admin = server.admin_authorization()
    served = _v2(server, "mirror/team/app/manifests/1.0", headers={**admin, "Accept": MANIFEST_ACCEPT})
    assert served.status == 200, served
    assert upstream_requests(upstream, contains="/manifests/")


def test_another_callers_upload_session_is_unknown_to_them(server: CargoholdServer) -> None:
    alice, bob = basic(ALICE, ALICE_PASSWORD), basic(BOB, BOB_PASSWORD)
    started = _v2(server, "alpha/shared/blobs/uploads/", method="POST", headers=alice, data=b"")
    assert started.status == 202, started
    session = f"{server.url}{started.headers['Location']}"
    chunk = {"Content-Type": "application/octet-stream", "Content-Range": "0-3"}

    for method, data in (("PATCH", b"evil"), ("GET", None), ("PUT", b"evil"), ("DELETE", None)):
        url = session + ("?digest=sha256:" + hashlib.sha256(b"evil").hexdigest() if method == "PUT" else "")
        reply = call(url, method=method, headers={**bob, **chunk} if data else bob, data=data)
        assert reply.status == 404, (method, reply)
        assert reply.error_codes() == ["BLOB_UPLOAD_UNKNOWN"], reply

    mine = call(session, method="PATCH", headers={**alice, **chunk}, data=b"good")
    assert mine.status == 202, mine
    assert mine.headers["Range"] == "0-3"


@pytest.mark.parametrize(
    "path",
    [
        "public/../alpha/app/manifests/1.0",
        "public/%2e%2e/alpha/app/manifests/1.0",
        "public/App/manifests/1.0",
        "public/" + "a" * 300 + "/manifests/1.0",
        "public/app%00/manifests/1.0",
        "public/a/" + "b/" * 150 + "manifests/1.0",
    ],
)
def test_bad_names_are_refused_with_the_oci_code(server: CargoholdServer, path: str) -> None:
    for headers in ({}, basic(ALICE, ALICE_PASSWORD)):
        reply = _v2(server, path, headers=headers)
        assert 400 <= reply.status < 500, reply
        assert reply.error_codes() == ["NAME_INVALID"], reply


def test_an_oversized_manifest_is_refused_with_413(server: CargoholdServer) -> None:
    body = json.dumps({"schemaVersion": 2, "padding": "x" * (4 * 1024 * 1024)}).encode()
    headers = {**basic(ALICE, ALICE_PASSWORD), "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    reply = _v2(server, "public/big/manifests/1.0", method="PUT", headers=headers, data=body)
    assert reply.status == 413, reply
    assert reply.error_codes() == ["SIZE_INVALID"]
