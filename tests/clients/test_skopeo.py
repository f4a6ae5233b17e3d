"""skopeo against a real cargohold: push, inspect, pull back, multi-arch, errors, mounts, delete, tags.

Every test starts its own server (``cargohold`` fixture: public repository ``test``) and builds its images
offline with ``tests.support.images``; nothing touches the network beyond 127.0.0.1. Pushing needs write
access, so the tools carry the first-start admin's credentials (``auth.json``, as after ``podman login``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory
from tests.support.images import (
    ARM64,
    Image,
    read_dir_image,
    read_oci_layout,
    write_image,
    write_multiarch_image,
)
from tests.support.server import CargoholdServer

pytestmark = pytest.mark.clients

NO_TLS = ("--src-tls-verify=false", "--dest-tls-verify=false")


def push(tools: ContainerTools, image: Image, dest: str, *, all_images: bool = False) -> None:
    extra = ("--all",) if all_images else ()
    tools.skopeo("copy", *NO_TLS, *extra, f"oci:{image.reference}", dest)


def test_pushed_image_is_served_with_its_digest_and_layers(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(2048, 3_000_000), seed=1)
    ref = cargohold.docker_ref("test", "alpine-like", "1.0")

    push(container_tools, image, ref)

    raw = container_tools.inspect_raw(ref)
    assert f"sha256:{hashlib.sha256(raw).hexdigest()}" == image.digest
    info = container_tools.inspect(ref)
    assert info["Digest"] == image.digest
    assert info["Layers"] == list(image.manifests[0].layer_digests)
    assert (info["Architecture"], info["Os"]) == ("amd64", "linux")
    assert info["RepoTags"] == ["1.0"]


def test_pulled_image_has_identical_blobs(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(10_000, 1_500_000, 1), seed=2)
    ref = cargohold.docker_ref("test", "alpine-like", "1.0")
    push(container_tools, image, ref)

    container_tools.skopeo("copy", *NO_TLS, ref, f"dir:{tmp_path / 'pulled-dir'}")
    container_tools.skopeo("copy", *NO_TLS, ref, f"oci:{tmp_path / 'pulled-oci'}:back")

    from_dir = read_dir_image(tmp_path / "pulled-dir")  # also checks each blob's bytes hash to its digest
    from_oci = read_oci_layout(tmp_path / "pulled-oci", "back")
    for pulled in (from_dir, from_oci):
        assert pulled.digest == image.digest
        assert pulled.manifests[0].layer_digests == image.manifests[0].layer_digests
        assert pulled.manifests[0].config.digest == image.manifests[0].config.digest


def test_multiarch_index_is_kept_byte_for_byte(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_multiarch_image(tmp_path / "layout", tag="2.0", seed=3)
    ref = cargohold.docker_ref("test", "multi", "2.0")

    push(container_tools, image, ref, all_images=True)

    raw = container_tools.inspect_raw(ref)
    assert f"sha256:{hashlib.sha256(raw).hexdigest()}" == image.digest
    arm = image.for_platform(ARM64.architecture)
    arm_raw = container_tools.inspect_raw(cargohold.docker_ref("test", "multi", arm.digest))
    assert f"sha256:{hashlib.sha256(arm_raw).hexdigest()}" == arm.digest

    container_tools.skopeo("copy", *NO_TLS, "--all", ref, f"oci:{tmp_path / 'pulled'}:2.0")
    pulled = read_oci_layout(tmp_path / "pulled", "2.0")
    assert pulled.digest == image.digest
    assert {m.platform.architecture: m.layer_digests for m in pulled.manifests} == {
        m.platform.architecture: m.layer_digests for m in image.manifests
    }


def test_missing_tag_fails_with_manifest_unknown(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_image(tmp_path / "layout", tag="1.0", seed=4)
    push(container_tools, image, cargohold.docker_ref("test", "alpine-like", "1.0"))

    result = container_tools.skopeo(
        "copy",
        *NO_TLS,
        cargohold.docker_ref("test", "alpine-like", "2.0"),
        f"dir:{tmp_path / 'out'}",
        check=False,
    )

    assert result.returncode != 0
    assert "manifest unknown" in result.stderr.lower()


def test_copy_within_the_server_mounts_blobs_across_images(
    cargohold_factory: CargoholdFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    server = cargohold_factory(
        [{"name": "test", "visibility": "public"}, {"name": "team", "visibility": "public"}]
    )
    container_tools.add_credentials(server.host, *server.admin)
    image = write_image(tmp_path / "layout", tag="1.0", layer_sizes=(5000, 700_000), seed=5)
    source = server.docker_ref("test", "alpine-like", "1.0")
    push(container_tools, image, source)

    copied = container_tools.skopeo(
        "--debug", "copy", *NO_TLS, source, server.docker_ref("test", "copy", "1.0")
    )
    assert copied.stderr.count("mount OK") == len(image.manifests[0].layers), copied.stderr
    container_tools.skopeo("copy", *NO_TLS, source, server.docker_ref("team", "other/name", "1.1"))

    for ref in (server.docker_ref("test", "copy", "1.0"), server.docker_ref("team", "other/name", "1.1")):
        info = container_tools.inspect(ref)
        assert info["Digest"] == image.digest
        assert info["Layers"] == list(image.manifests[0].layer_digests)
    container_tools.skopeo("copy", *NO_TLS, server.docker_ref("test", "copy", "1.0"), f"dir:{tmp_path / 'c'}")
    assert read_dir_image(tmp_path / "c").digest == image.digest


def test_deleted_manifest_is_gone(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)  # pushes need write access
    image = write_image(tmp_path / "layout", tag="1.0", seed=6)
    push(container_tools, image, cargohold.docker_ref("test", "doomed", "1.0"))
    by_digest = cargohold.docker_ref("test", "doomed", image.digest)
    assert container_tools.inspect(by_digest)["Digest"] == image.digest

    container_tools.skopeo("delete", "--tls-verify=false", by_digest)

    for ref in (by_digest, cargohold.docker_ref("test", "doomed", "1.0")):
        gone = container_tools.skopeo("inspect", "--tls-verify=false", ref, check=False)
        assert gone.returncode != 0
        assert "manifest unknown" in gone.stderr.lower(), gone.stderr


def test_list_tags_shows_every_pushed_tag(
    cargohold: CargoholdServer, container_tools: ContainerTools, tmp_path: Path
) -> None:
    container_tools.add_credentials(cargohold.host, *cargohold.admin)
    first = write_image(tmp_path / "one", tag="1.0", seed=7)
    second = write_image(tmp_path / "two", tag="2.0", seed=8)
    push(container_tools, first, cargohold.docker_ref("test", "tagged", "1.0"))
    push(container_tools, first, cargohold.docker_ref("test", "tagged", "latest"))
    push(container_tools, second, cargohold.docker_ref("test", "tagged", "2.0"))
    push(container_tools, second, cargohold.docker_ref("test", "elsewhere", "9.9"))

    listed = container_tools.skopeo(
        "list-tags", "--tls-verify=false", f"docker://{cargohold.host}/test/tagged"
    )

    assert json.loads(listed.stdout) == {
        "Repository": f"{cargohold.host}/test/tagged",
        "Tags": ["1.0", "2.0", "latest"],
    }
    assert container_tools.inspect(cargohold.docker_ref("test", "tagged", "2.0"))["Digest"] == second.digest
