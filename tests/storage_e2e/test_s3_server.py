"""A real cargohold server on the S3 driver (a moto server), a real CNCF Distribution upstream, real skopeo:
pulls through into S3 and back from it, Range, redirect mode (skopeo follows the 307 to a presigned URL),
and a chunked push resumed on a second node that shares the database and the bucket."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, fetch, proxy, repository, seed_upstream, upstream_requests
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import read_dir_image, write_image
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Server

pytestmark = pytest.mark.clients

MiB = 1024 * 1024
LAYERS = (4096, 7 * MiB + 3)  # the big layer spans two multipart parts of 5 MiB


def s3_config(server: S3Server, bucket: str, *, redirect: bool = False) -> dict[str, Any]:
    return {
        "storage": {
            "driver": "s3",
            "redirect": redirect,
            "s3": {
                "endpoint_url": server.endpoint,
                "bucket": bucket,
                "prefix": "reg",
                "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY,
                "path_style": True,
                "part_size": "5MiB",
            },
        }
    }


def bucket_keys(server: S3Server, bucket: str, prefix: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def poll(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Whether ``condition`` came true before the deadline (looked at every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def raw_request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request that does not follow redirects."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_pull_through_into_s3_then_from_s3_with_range(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=31, layer_sizes=LAYERS
    )
    bucket = s3_server.new_bucket()
    server = cargohold_factory(
        [repository("hub", [proxy("up", upstream.url)])], extra_config=s3_config(s3_server, bucket)
    )

    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "team/app", "1.0"), f"dir:{tmp_path / 'a'}"
    )
    assert read_dir_image(tmp_path / "a").manifests[0].layer_digests == image.manifests[0].layer_digests
    wanted = {f"reg/blobs/sha256/{d[7:9]}/{d[7:]}" for d in image.manifests[0].layer_digests}
    # a client has its last bytes once they verified; the commit into S3 finishes just after
    assert poll(lambda: wanted <= set(bucket_keys(s3_server, bucket, "reg/blobs/"))), "blobs committed to S3"
    assert not (server.data_dir / "blobs").exists() or not any((server.data_dir / "blobs").rglob("*"))
    # ... and then removes its temporary objects: nothing of the downloads is left in the bucket
    assert poll(lambda: bucket_keys(s3_server, bucket, "reg/uploads/") == []), "temporary objects removed"
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    upstream.stop()  # from now on only S3 has the bytes
    container_tools.skopeo(
        "copy", *NO_TLS, server.docker_ref("hub", "team/app", "1.0"), f"dir:{tmp_path / 'b'}"
    )
    assert read_dir_image(tmp_path / "b").manifests[0].layer_digests == image.manifests[0].layer_digests

    big = image.manifests[0].layers[-1]
    url = f"{server.url}/v2/hub/team/app/blobs/{big.digest}"
    whole = fetch(url)
    assert whole.status == 200
    assert whole.headers["Docker-Content-Digest"] == big.digest
    assert f"sha256:{hashlib.sha256(whole.body).hexdigest()}" == big.digest
    part = fetch(url, headers={"Range": f"bytes={5 * MiB - 2}-{5 * MiB + 9}"})
    assert part.status == 206
    assert part.body == whole.body[5 * MiB - 2 : 5 * MiB + 10]
    assert part.headers["Content-Range"] == f"bytes {5 * MiB - 2}-{5 * MiB + 9}/{len(whole.body)}"
    head = fetch(url, method="HEAD")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(whole.body))
    beyond = fetch(url, headers={"Range": f"bytes={len(whole.body)}-"})
    assert beyond.status == 416


def test_concurrent_cold_pulls_share_one_download_into_s3(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    """Eight clients ask two worker processes for one big blob at once: the upstream sends it once, the
    followers read the leader's local spool, and every client gets the right bytes."""
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "src", "team/app", "3.0", seed=34, layer_sizes=(1000, 24 * MiB)
    )
    bucket = s3_server.new_bucket()
    server = cargohold_factory(
        [repository("hub", [proxy("up", upstream.url)])],
        extra_config={**s3_config(s3_server, bucket), "workers": 2},
    )
    big = image.manifests[0].layers[-1]
    url = f"{server.url}/v2/hub/team/app/blobs/{big.digest}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: fetch(url), range(8)))
    for answer in answers:
        assert answer.status == 200
        assert f"sha256:{hashlib.sha256(answer.body).hexdigest()}" == big.digest
    assert len(upstream_requests(upstream, "GET", f"/blobs/{big.digest}")) == 1


def test_redirect_mode_sends_clients_to_a_presigned_url(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "src", "team/app", "2.0", seed=32, layer_sizes=LAYERS
    )
    bucket = s3_server.new_bucket()
    server = cargohold_factory(
        [repository("hub", [proxy("up", upstream.url)])],
        extra_config=s3_config(s3_server, bucket, redirect=True),
    )
    ref = server.docker_ref("hub", "team/app", "2.0")
    container_tools.skopeo("copy", *NO_TLS, ref, f"dir:{tmp_path / 'cold'}")  # cold: streamed through

    big = image.manifests[0].layers[-1]
    status, headers, _ = raw_request(f"{server.url}/v2/hub/team/app/blobs/{big.digest}")
    assert status == 307
    location = headers["Location"]
    assert location.startswith(f"{s3_server.endpoint}/{bucket}/reg/blobs/sha256/")
    assert "X-Amz-Signature=" in location
    status, headers, body = raw_request(location, headers={"Range": "bytes=10-19"})
    assert status == 206
    assert len(body) == 10

    upstream.stop()
    container_tools.skopeo("copy", *NO_TLS, ref, f"dir:{tmp_path / 'warm'}")  # skopeo follows the 307s
    warm = read_dir_image(tmp_path / "warm")  # verifies every blob against its digest
    assert warm.manifests[0].layer_digests == image.manifests[0].layer_digests
    status, headers, _ = raw_request(f"{server.url}/v2/hub/team/app/blobs/{big.digest}", method="HEAD")
    assert status == 200, "a HEAD is answered here, not redirected"
    assert headers["Content-Length"] == str(big.size)


def test_a_chunked_push_resumed_on_another_node_then_pulled_back(
    cargohold_factory: CargoholdFactory,
    container_tools: ContainerTools,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    bucket = s3_server.new_bucket()
    shared = {
        **s3_config(s3_server, bucket),
        "database": f"sqlite:///{tmp_path / 'shared.db'}",
    }
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    node_a = cargohold_factory(name="node-a", extra_config=shared, env={"CARGOHOLD_SECRET_KEY": key})
    node_b = cargohold_factory(name="node-b", extra_config=shared, env={"CARGOHOLD_SECRET_KEY": key})
    auth = node_a.admin_authorization()

    data = os.urandom(11 * MiB + 5)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    status, headers, _ = raw_request(f"{node_a.url}/v2/test/chunky/blobs/uploads/", "POST", auth)
    assert status == 202
    location = headers["Location"]
    path = urllib.parse.urlsplit(location).path if location.startswith("http") else location
    first, second = data[: 3 * MiB + 1], data[3 * MiB + 1 :]
    status, headers, _ = raw_request(
        f"{node_a.url}{path}",
        "PATCH",
        {**auth, "Content-Type": "application/octet-stream", "Content-Range": f"0-{len(first) - 1}"},
        first,
    )
    assert status == 202
    status, headers, _ = raw_request(f"{node_b.url}{path}", "GET", auth)  # the other node knows the session
    assert status == 204
    assert headers["Range"] == f"0-{len(first) - 1}"
    status, headers, _ = raw_request(
        f"{node_b.url}{path}",
        "PATCH",
        {
            **auth,
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{len(first)}-{len(data) - 1}",
        },
        second,
    )
    assert status == 202
    separator = "&" if "?" in path else "?"
    status, _, body = raw_request(f"{node_a.url}{path}{separator}digest={digest}", "PUT", auth)
    assert status == 201, body
    for node in (node_a, node_b):
        status, headers, body = raw_request(f"{node.url}/v2/test/chunky/blobs/{digest}", "GET", auth)
        assert status == 200
        assert body == data

    # a whole image pushed through node A with skopeo comes back whole from node B
    image = write_image(tmp_path / "layout", tag="v1", layer_sizes=(1000, 6 * MiB), seed=33)
    container_tools.skopeo(
        "copy", *NO_TLS, "--dest-creds", node_a.admin_creds, f"oci:{image.reference}",
        node_a.docker_ref("test", "pushed", "v1"),
    )  # fmt: skip
    container_tools.skopeo(
        "copy", *NO_TLS, "--src-creds", node_b.admin_creds, node_b.docker_ref("test", "pushed", "v1"),
        f"dir:{tmp_path / 'back'}",
    )  # fmt: skip
    assert read_dir_image(tmp_path / "back").manifests[0].layer_digests == image.manifests[0].layer_digests
