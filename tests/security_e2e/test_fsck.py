"""``cargohold fsck`` reads every stored blob back: it finds a cached layer whose bytes were changed in place
(the right size, so the check on the way out cannot see it), a truncated cached layer, a truncated pushed
blob, a cached manifest whose file is gone, and an orphan file; ``--repair`` removes the damaged files and
forgets the cached manifest, and the next pull (real skopeo, through a real Distribution upstream) fetches
them again and verifies them. The pushed blob cannot be had again: it is reported as lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.proxy_e2e.upstreams import NO_TLS, proxy, repository, seed_upstream, upstream_requests
from tests.support.accounts import call
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory
from tests.support.processes import child_env
from tests.support.server import CargoholdServer, cargohold_executable

pytestmark = pytest.mark.clients

PUSHED = b"a pushed layer " + os.urandom(100_000)
PUSHED_DIGEST = "sha256:" + hashlib.sha256(PUSHED).hexdigest()
ORPHAN = b"bytes nothing references"
ORPHAN_DIGEST = "sha256:" + hashlib.sha256(ORPHAN).hexdigest()


def blob_file(server: CargoholdServer, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    return server.data_dir / "blobs" / algorithm / hex_digest[:2] / hex_digest


def fsck(server: CargoholdServer, *args: str) -> tuple[int, dict[str, Any]]:
    assert server.config_path is not None
    result = subprocess.run(
        [str(cargohold_executable()), "fsck", "--config", str(server.config_path), "--data-dir",
         str(server.data_dir), "--json", *args],
        env=child_env(drop_prefixes=("CARGOHOLD_",)), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def by_digest(report: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {finding["digest"]: finding for finding in report["findings"] if finding["kind"] == kind}


def test_fsck_finds_damage_and_repair_lets_the_next_pull_fetch_it_again(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory()
    image = seed_upstream(
        container_tools, upstream, tmp_path / "src", "team/app", "1.0", seed=57, layer_sizes=(50_000, 200_000)
    )
    manifest = image.manifests[0]
    changed, truncated = manifest.layers
    server = cargohold_factory(
        [repository("hub", [proxy("up", upstream.url)]), {"name": "local", "visibility": "public"}]
    )
    source = f"docker://{server.host}/hub/team/app:1.0"
    container_tools.skopeo("copy", *NO_TLS, source, f"dir:{tmp_path / 'first'}")
    pushed = call(
        f"{server.url}/v2/local/team/app/blobs/uploads/?digest={PUSHED_DIGEST}",
        method="POST",
        data=PUSHED,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )
    assert pushed.status == 201, pushed.body

    code, report = fsck(server)
    assert code == 0, report
    assert report["files"] >= 5  # manifest, config, two layers, the pushed blob

    path = blob_file(server, changed.digest)
    content = bytearray(path.read_bytes())
    content[100] ^= 0xFF  # one byte flipped: same size, another digest
    path.write_bytes(bytes(content))
    with blob_file(server, truncated.digest).open("r+b") as file:
        file.truncate(truncated.size // 2)
    with blob_file(server, PUSHED_DIGEST).open("r+b") as file:
        file.truncate(10)
    blob_file(server, manifest.digest).unlink()
    orphan = blob_file(server, ORPHAN_DIGEST)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(ORPHAN)

    code, report = fsck(server)
    assert code == 1
    damaged = by_digest(report, "damaged")
    assert set(damaged) == {changed.digest, truncated.digest, PUSHED_DIGEST}
    assert "hashes to" in damaged[changed.digest]["problem"]
    assert damaged[changed.digest]["held_by"] == ["hub/team/app (blob, cached through up)"]
    assert f"{truncated.size} recorded" in damaged[truncated.digest]["problem"]
    assert damaged[PUSHED_DIGEST]["held_by"] == ["local/team/app (blob, local)"]
    assert "would be lost" in damaged[PUSHED_DIGEST]["action"]
    missing = by_digest(report, "missing")
    assert set(missing) == {manifest.digest}
    assert missing[manifest.digest]["held_by"] == ["hub/team/app (manifest, cached through up)"]
    assert set(by_digest(report, "orphaned")) == {ORPHAN_DIGEST}
    assert path.exists(), "without --repair nothing is changed"

    code, report = fsck(server, "--repair")
    assert code == 1
    assert "is lost" in by_digest(report, "damaged")[PUSHED_DIGEST]["action"]
    for digest in (changed.digest, truncated.digest, PUSHED_DIGEST):
        assert not blob_file(server, digest).exists(), digest
    assert orphan.exists(), "orphans are left to garbage collection"

    gets_before = {d: len(upstream_requests(upstream, "GET", d)) for d in (changed.digest, truncated.digest)}
    container_tools.skopeo("copy", *NO_TLS, source, f"dir:{tmp_path / 'second'}")  # skopeo verifies digests
    for digest, before in gets_before.items():
        assert len(upstream_requests(upstream, "GET", digest)) == before + 1, "fetched again"
        assert hashlib.sha256(blob_file(server, digest).read_bytes()).hexdigest() == digest.split(":")[1]
    lost = call(f"{server.url}/v2/local/team/app/blobs/{PUSHED_DIGEST}")
    assert lost.status == 404

    code, report = fsck(server)
    assert code == 1
    assert by_digest(report, "damaged") == {}
    assert set(by_digest(report, "missing")) == {PUSHED_DIGEST}, "only the lost pushed blob is left"
