"""What the benchmark pushes into the upstream before measuring: pulled images, the herd images, the big blob.

Images are written offline as OCI layouts by ``tests.support.images`` (random gzip'd layers, so their size on
the wire is about their nominal size) and pushed with skopeo. The big blob is generated while it is
uploaded: one chunked ``PATCH`` whose body is produced a MiB at a time and hashed on the way, so neither the
harness nor the disk ever holds it outside the upstream's own storage. A small OCI manifest then references
it as a layer, so proxies see it as part of an image.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
from tests.support.clients import ContainerTools
from tests.support.images import OCI_CONFIG, OCI_MANIFEST, read_oci_layout, write_image

from bench.plan import MIB, Plan

TAG = "v1"
OPAQUE_LAYER = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass(frozen=True)
class PushedImage:
    """An image in the upstream: name, tag, manifest digest and the digests of its config and layers."""

    name: str
    tag: str
    digest: str
    blobs: tuple[str, ...]


@dataclass(frozen=True)
class Content:
    """Everything pushed into the upstream for one run."""

    pulls: tuple[PushedImage, ...]
    herds: tuple[PushedImage, PushedImage]  # one per herd round (each proxy pulls both, in ABBA order)
    big: PushedImage
    big_blob: str
    big_size: int


class ContentError(RuntimeError):
    """The upstream refused or mangled what the benchmark pushed."""


def push_layout_image(
    tools: ContainerTools, workdir: Path, upstream_host: str, name: str, layers: Sequence[int], seed: int
) -> PushedImage:
    """Write an OCI layout image and push it to ``upstream_host/name:TAG`` with skopeo."""
    image = write_image(workdir / name, tag=TAG, layer_sizes=tuple(layers), seed=seed)
    tools.skopeo(
        "copy", "--quiet", "--dest-tls-verify=false", f"oci:{image.reference}",
        f"docker://{upstream_host}/{name}:{TAG}",
    )  # fmt: skip
    manifest = read_oci_layout(image.layout, TAG).manifests[0]
    return PushedImage(name, TAG, image.digest, (manifest.config.digest, *manifest.layer_digests))


async def _random_chunks(size: int, seed: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    rng = random.Random(seed)
    left = size
    while left > 0:
        chunk = rng.randbytes(min(MIB, left))
        digest.update(chunk)
        left -= len(chunk)
        yield chunk


async def _start_upload(session: aiohttp.ClientSession, base: str, name: str) -> str:
    async with session.post(f"{base}/v2/{name}/blobs/uploads/") as response:
        if response.status != 202:
            raise ContentError(f"POST upload for {name}: HTTP {response.status} {await response.text()}")
        return urljoin(base, response.headers["Location"])


async def _finish_upload(session: aiohttp.ClientSession, base: str, location: str, digest: str) -> None:
    sep = "&" if "?" in location else "?"
    async with session.put(f"{location}{sep}digest={digest}") as response:
        if response.status != 201:
            raise ContentError(f"PUT upload {digest}: HTTP {response.status} {await response.text()}")


async def upload_generated_blob(
    session: aiohttp.ClientSession, base: str, name: str, size: int, seed: int
) -> str:
    """Upload ``size`` pseudo-random bytes as a blob of ``name``, streamed; returns its digest."""
    location = await _start_upload(session, base, name)
    hasher = hashlib.sha256()
    body = _random_chunks(size, seed, hasher)
    headers = {"Content-Type": "application/octet-stream"}
    async with session.patch(location, data=body, headers=headers) as response:
        if response.status != 202:
            raise ContentError(f"PATCH upload for {name}: HTTP {response.status} {await response.text()}")
        location = urljoin(base, response.headers["Location"])
    digest = f"sha256:{hasher.hexdigest()}"
    await _finish_upload(session, base, location, digest)
    return digest


async def upload_bytes(session: aiohttp.ClientSession, base: str, name: str, data: bytes) -> str:
    """Upload a small blob in one ``PATCH``; returns its digest."""
    location = await _start_upload(session, base, name)
    async with session.patch(location, data=data) as response:
        if response.status != 202:
            raise ContentError(f"PATCH upload for {name}: HTTP {response.status} {await response.text()}")
        location = urljoin(base, response.headers["Location"])
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    await _finish_upload(session, base, location, digest)
    return digest


async def push_big_image(base: str, name: str, size: int, seed: int) -> tuple[PushedImage, str]:
    """Push an image whose only layer is a generated ``size``-byte blob; returns it and the blob digest."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        layer = await upload_generated_blob(session, base, name, size, seed)
        config_bytes = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer]}}
        ).encode()
        config = await upload_bytes(session, base, name, config_bytes)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config, "size": len(config_bytes)},
                "layers": [{"mediaType": OPAQUE_LAYER, "digest": layer, "size": size}],
            }
        ).encode()
        headers = {"Content-Type": OCI_MANIFEST}
        async with session.put(f"{base}/v2/{name}/manifests/{TAG}", data=manifest, headers=headers) as resp:
            if resp.status != 201:
                raise ContentError(f"PUT manifest {name}:{TAG}: HTTP {resp.status} {await resp.text()}")
        digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    return PushedImage(name, TAG, digest, (config, layer)), layer


async def prepare_content(plan: Plan, tools: ContainerTools, workdir: Path, upstream_host: str) -> Content:
    """Push every image and the big blob the run needs into the upstream at ``upstream_host``."""
    layouts = workdir / "layouts"
    pulls = tuple(
        push_layout_image(tools, layouts, upstream_host, f"pull-{i}", plan.pull_layer_sizes, seed=100 + i)
        for i in range(1, plan.pull_images + 1)
    )
    herds = (
        push_layout_image(tools, layouts, upstream_host, "herd-1", plan.herd_layer_sizes, seed=7),
        push_layout_image(tools, layouts, upstream_host, "herd-2", plan.herd_layer_sizes, seed=8),
    )
    big, blob = await push_big_image(f"http://{upstream_host}", "big", plan.blob_size, seed=512)
    return Content(pulls, herds, big, blob, plan.blob_size)
