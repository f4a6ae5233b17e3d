"""Garbage collection end to end: a real ``cargohold serve`` pulling through a real CNCF Distribution
upstream, driven by ``cargohold gc`` and skopeo. Purged content gives its disk bytes back (measured on the
file system), a dry run removes nothing and reports the same bytes, abandoned uploads and a killed fetch's
spool go once older than the configured age, and pushes, mounts and pulls of shared layers racing a
collection that runs in a loop all come back intact, by digest."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import Image, write_image
from tests.support.server import ADMIN_PASSWORD, CargoholdServer

pytestmark = pytest.mark.clients
CARGOHOLD = Path(sys.executable).with_name("cargohold")
QUICK_GC = {"gc": {"interval_seconds": 0, "grace_seconds": 0, "upload_max_idle_seconds": 600}}
LOCAL = {"name": "test", "visibility": "public", "proxies": []}
DAY = 86400.0
JSON = {"Content-Type": "application/json"}


def blob_bytes(server: CargoholdServer) -> int:
    """What the blob files take, summed over the file system."""
    root = server.data_dir / "blobs"
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def cached_bytes(server: CargoholdServer, image: Image) -> int:
    """The blob bytes once every blob of ``image`` is on disk. A pull through the cache can end before the
    last blob it streamed is committed (the client had every byte already), so this waits for the files,
    up to a deadline, and answers what is there then."""
    manifest = image.manifests[0]
    expected = image.top.size + manifest.config.size + sum(layer.size for layer in manifest.layers)
    deadline = time.monotonic() + 30
    while (found := blob_bytes(server)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def http(
    server: CargoholdServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(  # noqa: S310 - the test server's http:// URL
        server.url + path,
        data=body,
        method=method,
        headers={**server.admin_authorization(), **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http://127.0.0.1
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def metric(scraped: bytes, name: str) -> float:
    """The value of the sample ``name`` (with its labels) in a Prometheus text scrape."""
    for line in scraped.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not in the scrape")


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """``cargohold ARGS`` in a subprocess, signed in as admin (``cargohold login``) on first use."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CARGOHOLD_")}
    env.update(COLUMNS="200", NO_COLOR="1", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    signed_in: set[str] = set()

    def run(server: CargoholdServer, *args: str) -> str:
        call_env = {**env, "CARGOHOLD_SERVER": server.url}
        if server.url not in signed_in:
            login = subprocess.run(
                [str(CARGOHOLD), "login", "--username", "admin", "--password-stdin"],
                input=ADMIN_PASSWORD, env=call_env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert login.returncode == 0, login.stderr
            signed_in.add(server.url)
        result = subprocess.run(
            [str(CARGOHOLD), *args], env=call_env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return str(result.stdout)

    return run


def pull(tools: ContainerTools, server: CargoholdServer, name: str, reference: str, into: Path) -> str:
    """Copy an image out of cargohold (skopeo checks every blob's digest); the digest of its manifest."""
    tools.skopeo("copy", *NO_TLS, "--src-creds", server.admin_creds, f"docker://{server.host}/{name}:{reference}",
                 f"oci:{into}:{reference}")  # fmt: skip
    index = json.loads((into / "index.json").read_text())
    return next(
        str(m["digest"])
        for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == reference
    )


def push(
    tools: ContainerTools, server: CargoholdServer, image: Image, name: str, *, attempts: int = 1
) -> None:
    """skopeo copy into the server; with ``attempts`` > 1, a copy that got 503 (a link that raced a collection
    is taken back and answered 503 on purpose: the client retries) is tried again, as a user would."""
    args = ("copy", *NO_TLS, "--dest-creds", server.admin_creds, f"oci:{image.reference}",
            f"docker://{server.host}/{name}:{image.tag}")  # fmt: skip
    for _ in range(attempts - 1):
        tried = tools.skopeo(*args, check=False)
        if tried.returncode == 0:
            return
        if "503 Service Unavailable" not in tried.stderr:
            break  # any other failure is reported by the last, checked try
    tools.skopeo(*args)


def test_purged_content_gives_its_disk_bytes_back_and_a_dry_run_removes_nothing(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
    cli: Any,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=7, layer_sizes=(300_000, 50_000)
    )
    server = cargohold_factory([repository("hub", [proxy("up", upstream.url)]), LOCAL], extra_config=QUICK_GC)
    pull(container_tools, server, "hub/team/app", "1.0", tmp_path / "pulled")
    cached = cached_bytes(server, image)
    assert cached > 350_000

    cli(server, "repo", "purge", "hub")
    assert blob_bytes(server) == cached  # purging forgets the content; the bytes stay until collected

    dry = json.loads(cli(server, "gc", "--dry-run", "--json"))
    assert dry["dry_run"] is True
    assert dry["bytes_freed"] == cached
    assert {item["kind"] for item in dry["removed"]} == {"blob"}
    assert blob_bytes(server) == cached
    assert "would free" in cli(server, "gc", "--dry-run")

    done = json.loads(cli(server, "gc", "--json"))
    assert done["bytes_freed"] == cached
    assert sorted(dry["removed"], key=repr) == sorted(done["removed"], key=repr)
    assert blob_bytes(server) == 0
    assert json.loads(cli(server, "gc", "--json"))["bytes_freed"] == 0
    status, _, scraped = http(server, "GET", "/metrics")  # the dry run is not counted; two collections are
    assert status == 200
    assert metric(scraped, "cargohold_gc_runs_total") == 2
    assert metric(scraped, "cargohold_gc_freed_bytes_total") == cached
    assert metric(scraped, 'cargohold_gc_removed_total{kind="blob"}') == len(done["removed"])
    assert metric(scraped, "cargohold_gc_last_run_timestamp_seconds") > time.time() - 600

    # The cache still works: the next pull fetches again.
    assert pull(container_tools, server, "hub/team/app", "1.0", tmp_path / "again") == image.digest
    assert cached_bytes(server, image) == cached


def test_a_deleted_image_and_a_deleted_repository_give_their_bytes_back(
    cargohold_factory: CargoholdFactory, container_tools: ContainerTools, tmp_path: Path, cli: Any
) -> None:
    server = cargohold_factory([LOCAL], extra_config=QUICK_GC)
    created = http(server, "POST", "/api/v1/repositories", json.dumps({"name": "other"}).encode(), JSON)
    assert created[0] == 201, created
    kept = write_image(tmp_path / "kept", tag="1", seed=1)
    dropped = write_image(tmp_path / "dropped", tag="1", seed=2, layer_sizes=(100_000,))
    elsewhere = write_image(tmp_path / "elsewhere", tag="1", seed=3, layer_sizes=(80_000,))
    push(container_tools, server, kept, "test/kept")
    push(container_tools, server, dropped, "test/dropped")
    push(container_tools, server, elsewhere, "other/app")
    push(container_tools, server, kept, "other/kept")  # the same bytes as test/kept

    before = blob_bytes(server)
    assert http(server, "DELETE", "/api/v1/repositories/test/images/dropped")[0] == 204
    freed = json.loads(cli(server, "gc", "--json"))["bytes_freed"]
    assert freed > 100_000
    assert blob_bytes(server) == before - freed

    before = blob_bytes(server)
    assert http(server, "DELETE", "/api/v1/repositories/other")[0] == 204
    freed = json.loads(cli(server, "gc", "--json"))["bytes_freed"]
    assert freed > 80_000
    assert blob_bytes(server) == before - freed
    assert pull(container_tools, server, "test/kept", "1", tmp_path / "out") == kept.digest


def test_abandoned_uploads_and_a_killed_fetchs_spool_go_once_older_than_the_age(
    cargohold_factory: CargoholdFactory, cli: Any
) -> None:
    server = cargohold_factory([LOCAL], extra_config=QUICK_GC)
    uploads = server.data_dir / "uploads"

    def start_upload(data: bytes) -> str:
        status, headers, _ = http(server, "POST", "/v2/test/app/blobs/uploads/", b"")
        assert status == 202
        location = headers["Location"]
        path = location if location.startswith("/") else location.split(server.host, 1)[1]
        status, _, _ = http(server, "PATCH", path, data, {"Content-Type": "application/octet-stream"})
        assert status == 202
        return location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]

    abandoned = start_upload(b"a" * 5000)
    active = start_upload(b"b" * 3000)
    killed_spool = uploads / ("fetch-" + "9" * 32)
    killed_spool.write_bytes(b"c" * 7000)
    past = time.time() - DAY
    for path in (uploads / abandoned, killed_spool):
        os.utime(path, (past, past))
    os.utime(uploads / active, None)  # touched just now: still in use

    # Only a global admin collects; a bad body is refused; neither removes anything.
    user = {"name": "dev", "password": "a-long-enough-password"}
    assert http(server, "POST", "/api/v1/users", json.dumps(user).encode(), JSON)[0] == 201
    as_dev = {"Authorization": "Basic " + base64.b64encode(b"dev:a-long-enough-password").decode(), **JSON}
    assert http(server, "POST", "/api/v1/gc", b"{}", as_dev)[0] == 403
    assert http(server, "POST", "/api/v1/gc", b'{"dry_run": "no"}', JSON)[0] == 422
    assert killed_spool.exists()

    report = json.loads(cli(server, "gc", "--json"))

    removed = {(item["kind"], item["name"]): item["size"] for item in report["removed"]}
    assert removed == {("upload", abandoned): 5000, ("spool", killed_spool.name): 7000}
    assert report["bytes_freed"] == 12000
    assert sorted(path.name for path in uploads.iterdir()) == [active]
    assert http(server, "GET", f"/v2/test/app/blobs/uploads/{abandoned}")[0] == 404
    assert http(server, "GET", f"/v2/test/app/blobs/uploads/{active}")[0] == 204


def test_pushes_mounts_and_pulls_racing_a_collection_loop_all_come_back_intact(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    proxied = [
        seed_upstream(container_tools, upstream, tmp_path / f"up{seed}", f"lib/img{seed}", "1", seed=seed)
        for seed in (31, 32)
    ]
    server = cargohold_factory(
        [repository("hub", [proxy("up", upstream.url)]), LOCAL],
        extra_config={
            "workers": 2,
            "gc": {"interval_seconds": 0.2, "grace_seconds": 0, "upload_max_idle_seconds": 1},
        },
    )
    images = {seed: write_image(tmp_path / f"img{seed}", tag="1", seed=seed) for seed in (11, 12)}
    stop = threading.Event()
    runs: list[int] = []

    def collect_in_a_loop() -> None:
        while not stop.is_set():
            status, _, body = http(
                server, "POST", "/api/v1/gc", b'{"dry_run": false}', {"Content-Type": "application/json"}
            )
            assert status in (200, 409), body
            runs.append(status)

    expected: dict[str, str] = {}  # name -> digest that must come back

    def round_of_work(round_number: int) -> None:
        for seed, image in images.items():
            name = f"test/r{round_number}-{seed}"
            push(container_tools, server, image, name, attempts=3)  # layers stored after the first push
            expected[name] = image.digest
        # Garbage that races the next pushes of the same bytes: an image deleted right away.
        push(container_tools, server, images[11], f"test/doomed{round_number}", attempts=3)
        assert http(server, "DELETE", f"/api/v1/repositories/test/images/doomed{round_number}")[0] == 204
        layer = images[12].manifests[0].layers[0].digest
        status, _, _ = http(
            server,
            "POST",
            f"/v2/test/mounted{round_number}/blobs/uploads/?mount={layer}&from=test/r{round_number}-12",
            b"",
        )
        assert status == 201
        for seed, image in enumerate(proxied):
            digest = pull(
                container_tools, server, f"hub/lib/img{31 + seed}", "1", tmp_path / f"p{round_number}-{seed}"
            )
            assert digest == image.digest
        if round_number % 2:
            assert (
                http(
                    server,
                    "POST",
                    "/api/v1/repositories/hub/purge",
                    b"{}",
                    {"Content-Type": "application/json"},
                )[0]
                == 200
            )

    collector = threading.Thread(target=collect_in_a_loop)
    collector.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(round_of_work, number) for number in range(4)]:
                future.result()
    finally:
        stop.set()
        collector.join(timeout=120)
    assert runs.count(200) >= 2

    http(server, "POST", "/api/v1/gc", b"{}", {"Content-Type": "application/json"})
    for index, (name, digest) in enumerate(sorted(expected.items())):
        assert pull(container_tools, server, name, "1", tmp_path / f"back{index}") == digest, name
    for round_number in range(4):
        layer = images[12].manifests[0].layers[0]
        status, _, body = http(server, "GET", f"/v2/test/mounted{round_number}/blobs/{layer.digest}")
        assert status == 200
        assert len(body) == layer.size
    for seed, image in enumerate(proxied):
        assert (
            pull(container_tools, server, f"hub/lib/img{31 + seed}", "1", tmp_path / f"final{seed}")
            == image.digest
        )
