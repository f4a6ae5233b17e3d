"""Offline test images: write OCI image layouts and read pulled images back.

``write_image`` and ``write_multiarch_image`` build an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/…``) from random, gzip'd tar layers of chosen sizes, deterministically from a seed, and
return every digest so tests can assert on them. Layers are streamed to disk (never held whole in memory).
``read_oci_layout`` and ``read_dir_image`` read what skopeo/podman wrote back (an OCI layout, or skopeo's
``dir:`` transport) into the same shape, and check that every blob's bytes hash to its name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
REF_NAME = "org.opencontainers.image.ref.name"
_CHUNK = 64 * 1024
_EPOCH = 1_700_000_000  # fixed mtime so layers are reproducible


@dataclass(frozen=True)
class Platform:
    """An OCI platform (``os``/``architecture``, optional ``variant``)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def as_json(self) -> dict[str, str]:
        """The ``platform`` object of an index entry."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


@dataclass(frozen=True)
class Blob:
    """A content descriptor: digest, size and media type."""

    digest: str
    size: int
    media_type: str

    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor JSON object."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Manifest:
    """One single-platform image manifest and what it references."""

    blob: Blob
    config: Blob
    layers: tuple[Blob, ...]
    platform: Platform
    diff_ids: tuple[str, ...]  # uncompressed layer digests (the config's rootfs), what podman reports

    @property
    def digest(self) -> str:
        """The manifest digest."""
        return self.blob.digest

    @property
    def layer_digests(self) -> tuple[str, ...]:
        """Layer digests in order."""
        return tuple(layer.digest for layer in self.layers)


@dataclass(frozen=True)
class Image:
    """An image as written to (or read from) a layout: its top manifest, which may be an index."""

    layout: Path
    tag: str | None
    top: Blob
    manifests: tuple[Manifest, ...]

    @property
    def digest(self) -> str:
        """The digest clients see for the tag: the index digest for multi-arch, else the manifest's."""
        return self.top.digest

    @property
    def is_index(self) -> bool:
        """True when the top manifest is an image index / manifest list."""
        return self.top.media_type in INDEX_TYPES

    @property
    def reference(self) -> str:
        """``<layout>:<tag>`` for the skopeo/podman ``oci:`` transport."""
        return f"{self.layout}:{self.tag}" if self.tag else str(self.layout)

    def for_platform(self, architecture: str) -> Manifest:
        """The manifest for one architecture."""
        for manifest in self.manifests:
            if manifest.platform.architecture == architecture:
                return manifest
        raise KeyError(architecture)


class _RandomStream(io.RawIOBase):
    """``size`` pseudo-random bytes from ``rng``, generated in fixed chunks so reads of any size agree."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self._rng = rng
        self._left = size
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self._left + len(self._buffer) if size < 0 else size
        while len(self._buffer) < want and self._left > 0:
            take = min(_CHUNK, self._left)
            self._buffer += self._rng.randbytes(take)
            self._left -= take
        out, self._buffer = self._buffer[:want], self._buffer[want:]
        return out


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _HashingWriter(io.RawIOBase):
    """Counts and hashes what passes through to ``target`` (``target`` may be None to only hash)."""

    def __init__(self, target: _Sink | None) -> None:
        self._target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.hash.update(chunk)
        self.size += len(chunk)
        if self._target is not None:
            self._target.write(chunk)
        return len(chunk)


class _LayoutWriter:
    """Writes blobs into ``<layout>/blobs/sha256``."""

    def __init__(self, layout: Path) -> None:
        self.layout = layout
        self.blobs = layout / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put_bytes(self, data: bytes, media_type: str) -> Blob:
        hex_digest = hashlib.sha256(data).hexdigest()
        (self.blobs / hex_digest).write_bytes(data)
        return Blob(f"sha256:{hex_digest}", len(data), media_type)

    def put_json(self, value: dict[str, Any], media_type: str) -> Blob:
        return self.put_bytes(json.dumps(value, indent=2, sort_keys=True).encode(), media_type)

    def put_layer(self, rng: random.Random, size: int, index: int) -> tuple[Blob, str]:
        """A gzip'd tar holding one file of ``size`` random bytes; returns (blob, diff_id)."""
        spool = self.blobs / f".spool-{index}-{rng.getrandbits(32):08x}"
        with spool.open("wb") as raw:
            compressed = _HashingWriter(raw)
            with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=1, filename="") as gz:
                uncompressed = _HashingWriter(gz)
                with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    info = tarfile.TarInfo(f"cargohold-test/layer-{index}.bin")
                    info.size, info.mtime, info.mode = size, _EPOCH, 0o644
                    tar.addfile(info, _RandomStream(rng, size))
        hex_digest = compressed.hash.hexdigest()
        spool.replace(self.blobs / hex_digest)
        blob = Blob(f"sha256:{hex_digest}", compressed.size, OCI_LAYER_GZIP)
        return blob, f"sha256:{uncompressed.hash.hexdigest()}"

    def write_index_json(self, top: Blob, tag: str | None, platform: Platform | None = None) -> None:
        entry = top.descriptor()
        if tag:
            entry["annotations"] = {REF_NAME: tag}
        if platform is not None:
            entry["platform"] = platform.as_json()
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
        (self.layout / "index.json").write_text(json.dumps(index, indent=2))


def _write_manifest(
    writer: _LayoutWriter, rng: random.Random, layer_sizes: Sequence[int], platform: Platform
) -> Manifest:
    layers: list[Blob] = []
    diff_ids: list[str] = []
    for index, size in enumerate(layer_sizes):
        layer, diff_id = writer.put_layer(rng, size, index)
        layers.append(layer)
        diff_ids.append(diff_id)
    config_json: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Labels": {"seed": str(rng.random())}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))
        ],
    }
    if platform.variant:
        config_json["variant"] = platform.variant
    config = writer.put_json(config_json, OCI_CONFIG)
    manifest_json = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    blob = writer.put_json(manifest_json, OCI_MANIFEST)
    return Manifest(blob, config, tuple(layers), platform, tuple(diff_ids))


def write_image(
    layout: Path,
    *,
    tag: str = "latest",
    layer_sizes: Sequence[int] = (4096, 20_000),
    seed: int = 0,
    platform: Platform = AMD64,
) -> Image:
    """Write a single-arch image into the OCI layout ``layout`` under ``tag``; same seed, same digests."""
    writer = _LayoutWriter(layout)
    manifest = _write_manifest(writer, random.Random(seed), layer_sizes, platform)
    writer.write_index_json(manifest.blob, tag, platform)
    return Image(layout, tag, manifest.blob, (manifest,))


def write_multiarch_image(
    layout: Path,
    *,
    tag: str = "latest",
    layer_sizes: Sequence[int] = (4096, 20_000),
    seed: int = 0,
    platforms: Sequence[Platform] = (AMD64, ARM64),
) -> Image:
    """Write an OCI image index over one manifest per platform (distinct layers each) under ``tag``."""
    writer = _LayoutWriter(layout)
    rng = random.Random(seed)
    manifests = tuple(_write_manifest(writer, rng, layer_sizes, platform) for platform in platforms)
    entries = [{**m.blob.descriptor(), "platform": m.platform.as_json()} for m in manifests]
    top = writer.put_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, OCI_INDEX)
    writer.write_index_json(top, tag)
    return Image(layout, tag, top, manifests)


# --- reading back -------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _media_type(raw: bytes, fallback: str) -> str:
    value = json.loads(raw).get("mediaType")
    return value if isinstance(value, str) else fallback


def _parse_manifest(raw: bytes, media_type: str, platform: Platform, load: Any, verify: Any) -> Manifest:
    data = json.loads(raw)
    blob = Blob(f"sha256:{hashlib.sha256(raw).hexdigest()}", len(raw), media_type)
    config = Blob(data["config"]["digest"], data["config"]["size"], data["config"]["mediaType"])
    layers = tuple(Blob(item["digest"], item["size"], item["mediaType"]) for item in data["layers"])
    for item in (config, *layers):
        verify(item)
    diff_ids = tuple(json.loads(load(config.digest))["rootfs"]["diff_ids"])
    return Manifest(blob, config, layers, platform, diff_ids)


def _read_image(
    top_raw: bytes, media_type: str, load: Any, verify: Any, layout: Path, tag: str | None
) -> Image:
    """Build an Image from the top manifest bytes; ``load(digest)`` returns child manifest bytes or None."""
    top = Blob(
        f"sha256:{hashlib.sha256(top_raw).hexdigest()}", len(top_raw), _media_type(top_raw, media_type)
    )
    if top.media_type not in INDEX_TYPES:
        config_digest = json.loads(top_raw)["config"]["digest"]
        config = json.loads(load(config_digest))
        platform = Platform(config.get("os", ""), config.get("architecture", ""), config.get("variant"))
        return Image(layout, tag, top, (_parse_manifest(top_raw, top.media_type, platform, load, verify),))
    manifests = []
    for entry in json.loads(top_raw)["manifests"]:
        raw = load(entry["digest"])
        if raw is None:  # copied without --all: only one instance is present
            continue
        plat = entry.get("platform", {})
        platform = Platform(plat.get("os", ""), plat.get("architecture", ""), plat.get("variant"))
        manifests.append(_parse_manifest(raw, entry["mediaType"], platform, load, verify))
    return Image(layout, tag, top, tuple(manifests))


def read_oci_layout(layout: Path, tag: str | None = None) -> Image:
    """Read the image tagged ``tag`` (or the only one) from an OCI layout and verify its blobs' bytes."""
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    if tag is not None:
        entries = [e for e in entries if e.get("annotations", {}).get(REF_NAME) == tag]
    if len(entries) != 1:
        raise ValueError(f"{layout}: expected one index.json entry for tag {tag!r}, found {len(entries)}")

    def path_of(digest: str) -> Path:
        algorithm, hex_digest = digest.split(":", 1)
        return layout / "blobs" / algorithm / hex_digest

    def load(digest: str) -> bytes | None:
        path = path_of(digest)
        return path.read_bytes() if path.exists() else None

    def verify(blob: Blob) -> None:
        _verify_blob(path_of(blob.digest), blob)

    top_raw = load(entries[0]["digest"])
    if top_raw is None:
        raise ValueError(f"{layout}: top manifest {entries[0]['digest']} missing")
    return _read_image(top_raw, entries[0]["mediaType"], load, verify, layout, tag)


def read_dir_image(directory: Path) -> Image:
    """Read an image written by skopeo's ``dir:`` transport and verify its blobs' bytes.

    ``dir:`` keeps the top manifest in ``manifest.json``, child manifests (``copy --all``) in
    ``<hex>.manifest.json`` and every other blob as a file named by its hex digest.
    """

    def load(digest: str) -> bytes | None:
        hex_digest = digest.split(":", 1)[1]
        for name in (f"{hex_digest}.manifest.json", hex_digest):
            if (directory / name).exists():
                return (directory / name).read_bytes()
        return None

    def verify(blob: Blob) -> None:
        _verify_blob(directory / blob.digest.split(":", 1)[1], blob)

    top_raw = (directory / "manifest.json").read_bytes()
    return _read_image(top_raw, OCI_MANIFEST, load, verify, directory, None)


def _verify_blob(path: Path, blob: Blob) -> None:
    if not path.exists():
        raise AssertionError(f"blob {blob.digest} missing at {path}")
    actual = sha256_file(path)
    size = path.stat().st_size
    if actual != blob.digest or size != blob.size:
        raise AssertionError(
            f"blob {path}: got {actual} ({size} bytes), expected {blob.digest} ({blob.size})"
        )


def same_layers(a: Image, b: Image) -> bool:
    """True when both images have the same platforms with the same layer digests in the same order."""

    def shape(image: Image) -> dict[str, tuple[str, ...]]:
        return {m.platform.architecture: m.layer_digests for m in image.manifests}

    return shape(a) == shape(b)
