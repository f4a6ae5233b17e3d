"""The S3 blob store driver against the filesystem driver: ``python -m bench.s3 [--quick]``.

It starts, on loopback, a CNCF Distribution upstream, a moto S3 server, and three cargohold servers proxying
the upstream: ``filesystem`` (the default driver), ``s3`` (the S3 driver, streaming cache hits through) and
``s3-redirect`` (the S3 driver with ``storage.redirect: true``; it shares the ``s3`` server's bucket). Then:

- cold pulls (``skopeo copy`` to ``dir:``) of a ~60 MiB image in 5 layers through ``filesystem`` and ``s3``,
  the median over a few images, who goes first alternating;
- a cached 512 MiB blob read with curl from each server (``-L`` follows the redirect), the median of 3 reads.

moto keeps objects in its own memory and is no speed reference for a real S3 service: these figures say what
the driver costs on this machine next to the filesystem, not what AWS would give. Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.clients import ContainerTools
from tests.support.distribution import start_distribution
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, start_s3_server
from tests.support.server import CargoholdServer, start_cargohold

from bench.content import push_big_image, push_layout_image
from bench.pulls import timed_pull

MIB = 1024 * 1024
REPOSITORY = "bench"


def _s3_storage(endpoint: str, bucket: str, *, redirect: bool) -> dict[str, Any]:
    return {
        "storage": {
            "driver": "s3",
            "redirect": redirect,
            "s3": {
                "endpoint_url": endpoint,
                "bucket": bucket,
                "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY,
                "path_style": True,
            },
        }
    }


def _curl_seconds(url: str, size: int) -> float:
    """Seconds to GET ``url`` (following redirects) with curl, checking the size."""
    argv = [
        "curl", "--silent", "--show-error", "--fail", "--location", "--output", "/dev/null",
        "--max-time", "600", "--write-out", "%{http_code} %{size_download} %{time_total}", url,
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    status, got, seconds = result.stdout.split()
    if result.returncode != 0 or status != "200" or int(got) != size:
        raise RuntimeError(
            f"curl {url}: exit {result.returncode}, HTTP {status}, {got} bytes: {result.stderr}"
        )
    return float(seconds)


def run(workdir: Path, images: int, big_size: int) -> dict[str, dict[str, float]]:
    tools = ContainerTools(workdir / "tools")
    s3 = start_s3_server(workdir / "moto")
    upstream = start_distribution(workdir, name="upstream")
    servers: dict[str, CargoholdServer] = {}
    try:
        bucket = s3.new_bucket()
        repositories = [
            {"name": REPOSITORY, "visibility": "public", "proxies": [{"name": "up", "url": upstream.url}]}
        ]
        servers["filesystem"] = start_cargohold(workdir, repositories, name="filesystem")
        servers["s3"] = start_cargohold(
            workdir, repositories, name="s3", extra_config=_s3_storage(s3.endpoint, bucket, redirect=False)
        )
        servers["s3-redirect"] = start_cargohold(
            workdir,
            repositories,
            name="s3-redirect",
            extra_config=_s3_storage(s3.endpoint, bucket, redirect=True),
        )
        pushed = [
            push_layout_image(
                tools, workdir / "images", upstream.host, f"pull{i}", [12 * MIB] * 5, seed=100 + i
            )
            for i in range(images)
        ]
        cold: dict[str, list[float]] = {"filesystem": [], "s3": []}
        for i, image in enumerate(pushed):
            order = ["filesystem", "s3"] if i % 2 == 0 else ["s3", "filesystem"]
            for key in order:
                ref = f"docker://{servers[key].host}/{REPOSITORY}/{image.name}:{image.tag}"
                cold[key].append(timed_pull(tools, ref, workdir / "pulled" / key, timeout=600))
        _, blob = asyncio.run(push_big_image(upstream.url, "big", big_size, seed=7))
        reads: dict[str, list[float]] = {}
        for key, server in servers.items():
            url = f"{server.url}/v2/{REPOSITORY}/big/blobs/{blob}"
            _curl_seconds(url, big_size)  # the first read fills the cache
            reads[key] = [_curl_seconds(url, big_size) for _ in range(3)]
    finally:
        for server in servers.values():
            server.stop()
        upstream.stop()
        s3.process.stop()
        tools.close()
    figures: dict[str, dict[str, float]] = {}
    for key in servers:
        figures[key] = {"cached_blob_mib_s": big_size / MIB / statistics.median(reads[key])}
        if key in cold:
            figures[key]["cold_pull_s"] = statistics.median(cold[key])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 images and a 64 MiB blob (a smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and the servers' logs")
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cargohold-bench-s3-"))
    try:
        figures = run(workdir, 2 if options.quick else 5, (64 if options.quick else 512) * MIB)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'server':<14} {'cold pull (s)':>14} {'cached blob (MiB/s)':>20}")
    for key, values in figures.items():
        cold = f"{values['cold_pull_s']:.2f}" if "cold_pull_s" in values else "-"
        print(f"{key:<14} {cold:>14} {values['cached_blob_mib_s']:>20.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
