"""Eviction end to end: a real ``cargohold serve`` pulling through a real CNCF Distribution upstream with
skopeo, into a repository with a 100 MiB quota on cached content. Images totalling well over the quota are
pulled (random, incompressible layers); after each pull the repository is back under its quota, the least
recently pulled images are the ones that went, an image pulled again meanwhile and a pinned one stay, the
evicted bytes come back to the disk with ``cargohold gc`` (measured on the file system), and an evicted image
is fetched again, transparently, on its next pull."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gc.test_gc_e2e import QUICK_GC, blob_bytes, cli, http, pull
from tests.proxy_e2e.upstreams import proxy, repository, seed_upstream
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.images import Image
from tests.support.server import CargoholdServer

__all__ = ["cli"]  # the fixture, shared with the gc tests

pytestmark = pytest.mark.clients
MiB = 1 << 20
QUOTA = 100 * MiB


def size_of(image: Image) -> int:
    manifest = image.manifests[0]
    return image.top.size + manifest.config.size + sum(layer.size for layer in manifest.layers)


def storage(server: CargoholdServer) -> dict[str, Any]:
    status, _, body = http(server, "GET", "/api/v1/repositories/hub")
    assert status == 200, body
    held: dict[str, Any] = json.loads(body)["storage"]
    return held


def images(server: CargoholdServer) -> set[str]:
    status, _, body = http(server, "GET", "/api/v1/repositories/hub/images")
    assert status == 200, body
    return {image["name"] for image in json.loads(body)}


def settled_under_quota(server: CargoholdServer) -> int:
    """The repository's cached bytes once the background eviction brought them under the quota (polled up to
    a deadline; the pull that crossed it prompts a pass within seconds)."""
    deadline = time.monotonic() + 60
    while (cached := storage(server)["cached_bytes"]) > QUOTA and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(cached)


def test_a_quota_keeps_the_most_recently_pulled_and_pinned_images_and_gc_returns_the_bytes(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
    cli: Any,
) -> None:
    upstream = distribution_factory()
    pinned = seed_upstream(
        container_tools, upstream, tmp_path / "pinned", "pinned/base", "1", seed=100, layer_sizes=(8 * MiB,)
    )
    seeded: dict[str, Image] = {"pinned/base": pinned}
    for number in range(1, 6):
        name = f"team/a{number}"
        seeded[name] = seed_upstream(
            container_tools, upstream, tmp_path / name, name, "1", seed=number, layer_sizes=(24 * MiB,)
        )
    assert sum(size_of(image) for image in seeded.values()) > 1.2 * QUOTA
    hub = repository("hub", [proxy("up", upstream.url)], max_cached_bytes="100MiB", pins=["pinned/*"])
    server = cargohold_factory([hub], extra_config={**QUICK_GC, "storage": {"low_water_percent": 90}})

    def pull_and_settle(name: str) -> None:
        into = tmp_path / "out" / name.replace("/", "_") / str(time.monotonic_ns())
        into.parent.mkdir(parents=True, exist_ok=True)
        assert pull(container_tools, server, f"hub/{name}", "1", into) == seeded[name].digest
        assert settled_under_quota(server) <= QUOTA

    for name in ("pinned/base", "team/a1", "team/a2", "team/a3"):  # 8 + 3 * 24 = 80 MiB: under the quota
        pull_and_settle(name)
    assert images(server) == {"pinned/base", "team/a1", "team/a2", "team/a3"}

    pull_and_settle("team/a4")  # 104 MiB: a1, the least recently pulled, goes (80 MiB is under 90% of 100)
    assert images(server) == {"pinned/base", "team/a2", "team/a3", "team/a4"}

    pull_and_settle("team/a2")  # pulled again: now more recent than a3
    pull_and_settle("team/a5")  # 104 MiB again: a3 goes, not a2; the pinned image, the oldest, stays
    kept = {"pinned/base", "team/a2", "team/a4", "team/a5"}
    assert images(server) == kept

    status, _, body = http(server, "GET", "/api/v1/repositories/hub/stats")
    assert status == 200
    stats = json.loads(body)
    assert stats["evictions"] == 2
    assert stats["evicted_bytes"] >= 2 * 24 * MiB

    # Eviction forgets; garbage collection gives the bytes back to the disk.
    done = json.loads(cli(server, "gc", "--json"))
    assert done["bytes_freed"] >= 2 * 24 * MiB
    assert blob_bytes(server) == sum(size_of(seeded[name]) for name in kept)

    # An evicted image is fetched again on its next pull, as if it had never been cached.
    pull_and_settle("team/a1")
    assert "team/a1" in images(server)
