"""``cargohold storage migrate`` moves a real server's filesystem blobs into S3 (a moto server): verified,
resumable (a second run skips what is there), a damaged file is named and not copied, and the server then
serves the same images from S3 alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.proxy_e2e.upstreams import NO_TLS
from tests.storage_e2e.test_s3_server import bucket_keys, s3_config
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory
from tests.support.images import read_dir_image, write_image
from tests.support.s3 import S3Server
from tests.support.server import cargohold_executable, write_config

pytestmark = pytest.mark.clients

MiB = 1024 * 1024


def run_migrate(config: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(cargohold_executable()),
            "storage",
            "migrate",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_migrate_a_filesystem_store_into_s3_and_serve_from_it(
    cargohold_factory: CargoholdFactory,
    container_tools: ContainerTools,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    server = cargohold_factory(name="node")
    image = write_image(tmp_path / "layout", tag="v1", layer_sizes=(2000, 6 * MiB + 1), seed=41)
    container_tools.skopeo(
        "copy", *NO_TLS, "--dest-creds", server.admin_creds, f"oci:{image.reference}",
        server.docker_ref("test", "app", "v1"),
    )  # fmt: skip
    server.stop()
    data_dir = server.data_dir
    stored = sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())
    assert len(stored) == 4  # two layers, the config and the manifest

    bucket = s3_server.new_bucket()
    config = write_config(tmp_path / "s3.yml", [], s3_config(s3_server, bucket))
    damaged = data_dir / "blobs" / "sha256" / "ab" / ("ab" + "0" * 62)
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"not what the name says")

    first = run_migrate(config, data_dir)
    assert first.returncode == 1, first.stderr
    assert f"not copied sha256:{damaged.name}" in first.stdout
    assert "4 blobs copied" in first.stdout
    assert "migrating" in first.stderr  # the progress bar
    keys = bucket_keys(s3_server, bucket, "reg/blobs/")
    assert sorted(key.rsplit("/", 1)[1] for key in keys) == sorted(p.name for p in stored)
    assert bucket_keys(s3_server, bucket, "reg/uploads/") == []

    damaged.unlink()
    again = run_migrate(config, data_dir)
    assert again.returncode == 0, again.stderr
    assert "0 blobs copied" in again.stdout
    assert "4 already in S3" in again.stdout

    shutil.rmtree(data_dir / "blobs")  # from now on only S3 has the bytes
    on_s3 = cargohold_factory(name="node", extra_config=s3_config(s3_server, bucket))
    container_tools.skopeo(
        "copy", *NO_TLS, "--src-creds", on_s3.admin_creds, on_s3.docker_ref("test", "app", "v1"),
        f"dir:{tmp_path / 'back'}",
    )  # fmt: skip
    assert read_dir_image(tmp_path / "back").manifests[0].layer_digests == image.manifests[0].layer_digests


def test_migrate_refuses_a_configuration_without_s3(tmp_path: Path) -> None:
    (tmp_path / "data" / "blobs").mkdir(parents=True)
    config = write_config(tmp_path / "fs.yml", [])
    result = run_migrate(config, tmp_path / "data")
    assert result.returncode == 2
    assert "storage.driver: s3" in result.stderr
