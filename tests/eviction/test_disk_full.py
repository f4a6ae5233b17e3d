"""A full disk never fails a pull: a real ``cargohold serve`` whose data directory is a 64 MiB tmpfs, pulling
through a real CNCF Distribution upstream with skopeo. A cold pull of an image bigger than the whole disk is
served straight through from the upstream, verified by skopeo's digest checks, and counted as uncached; the
server keeps running and caching what fits; a push that does not fit is refused with 507 and an OCI error
body, and leaves nothing half-written on the disk."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gc.test_gc_e2e import LOCAL, http, pull, push
from tests.proxy_e2e.upstreams import proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import write_image

pytestmark = pytest.mark.clients
MiB = 1 << 20
NAME = "full"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs where the server named ``full`` keeps its data (unmounted after the server stopped:
    this fixture is set up before the server's, so it is torn down after)."""
    data = tmp_path / NAME / "data"
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(data)], check=True)
    try:
        yield data
    finally:
        subprocess.run(["umount", "--lazy", str(data)], check=False)


def test_a_pull_bigger_than_the_disk_is_served_through_and_a_push_that_does_not_fit_gets_507(
    small_disk: Path,
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    big = seed_upstream(
        container_tools, upstream, tmp_path / "big", "big/app", "1", seed=11, layer_sizes=(80 * MiB,)
    )
    small = seed_upstream(
        container_tools, upstream, tmp_path / "small", "small/app", "1", seed=12, layer_sizes=(2 * MiB,)
    )
    hub = repository("hub", [proxy("up", upstream.url)])
    server = cargohold_factory([hub, LOCAL], name=NAME, extra_config={"storage": {"min_free_bytes": "4MiB"}})
    assert server.data_dir == small_disk
    assert shutil.disk_usage(small_disk).total <= 64 * MiB < big.manifests[0].layers[0].size

    # Bigger than the whole disk: served through, verified (skopeo checks every digest), not cached.
    (tmp_path / "out").mkdir()
    assert pull(container_tools, server, "hub/big/app", "1", tmp_path / "out" / "big") == big.digest
    status, _, body = http(server, "GET", "/api/v1/repositories/hub/stats")
    assert status == 200
    stats = json.loads(body)
    assert stats["uncached_pulls"] >= 1
    assert stats["uncached_bytes"] >= 80 * MiB
    stored = [path.stat().st_size for path in (small_disk / "blobs").rglob("*") if path.is_file()]
    assert all(size < 80 * MiB for size in stored)
    assert list((small_disk / "uploads").iterdir()) == []

    # The server keeps running, and what fits is cached as usual.
    assert pull(container_tools, server, "hub/small/app", "1", tmp_path / "out" / "small") == small.digest
    status, _, body = http(server, "GET", "/api/v1/repositories/hub/images")
    assert {image["name"] for image in json.loads(body)} == {"small/app"}
    # ... and the big image once more: served through again, not half-cached
    assert pull(container_tools, server, "hub/big/app", "1", tmp_path / "out" / "big2") == big.digest

    # A push that does not fit: 507 with an OCI error body, and nothing of it kept.
    free_before = shutil.disk_usage(small_disk).free
    too_big = write_image(tmp_path / "too-big", tag="1", seed=13, layer_sizes=(70 * MiB,))
    with pytest.raises(Exception, match=r"507|storage is full") as refused:
        push(container_tools, server, too_big, "test/too-big")
    assert "storage is full" in str(refused.value) or "507" in str(refused.value)
    assert list((small_disk / "uploads").iterdir()) == []
    assert shutil.disk_usage(small_disk).free >= free_before - MiB
    status, _, body = http(
        server, "POST", "/v2/test/direct/blobs/uploads/?digest=sha256:" + "0" * 64, b"x" * (61 * MiB),
        {"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert status == 507
    assert json.loads(body)["errors"][0]["code"] == "DENIED"
    assert list((small_disk / "uploads").iterdir()) == []
    assert http(server, "GET", "/v2/")[0] == 200
