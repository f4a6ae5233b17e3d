"""The sizes and durations of one benchmark run: the default plan and the ``--quick`` smoke plan.

A ``Plan`` says how big the pulled images are, how many of them are pulled cold, how big the cached blob is
and how often it is read, how long and how wide the manifest load runs, and how many clients pull at once in
the single-flight check. Nothing here starts a process or touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """What one run measures, and at which sizes."""

    name: str
    pull_layer_sizes: tuple[int, ...]  # bytes per layer of each pulled image (random: as big gzip'd)
    pull_images: int  # distinct images, each pulled cold then warm through every server
    herd_layer_sizes: tuple[int, ...]  # the image pulled by ``herd_clients`` clients at once
    herd_clients: int
    blob_size: int  # the big cached blob
    blob_reads: int  # timed reads of the cached blob (after one read that fills the cache)
    manifest_seconds: float  # per server and per kind (tag, digest)
    manifest_concurrency: int
    command_timeout_s: float  # any one skopeo or curl command
    startup_restarts: int = 5  # restarts timed after the first start, per proxy

    @property
    def pull_image_bytes(self) -> int:
        """Roughly the size of one pulled image."""
        return sum(self.pull_layer_sizes)


DEFAULT = Plan(
    name="default",
    pull_layer_sizes=(24 * MIB, 16 * MIB, 12 * MIB, 6 * MIB, 2 * MIB),  # ~60 MiB in 5 layers
    pull_images=8,
    herd_layer_sizes=(16 * MIB, 8 * MIB, 4 * MIB, 2 * MIB),  # ~30 MiB in 4 layers
    herd_clients=16,
    blob_size=512 * MIB,
    blob_reads=5,
    manifest_seconds=5.0,
    manifest_concurrency=32,
    command_timeout_s=180.0,
)

QUICK = Plan(
    name="quick",
    pull_layer_sizes=(2 * MIB, 1 * MIB, MIB // 2),
    pull_images=1,
    herd_layer_sizes=(MIB, MIB // 2),
    herd_clients=16,
    blob_size=32 * MIB,
    blob_reads=2,
    manifest_seconds=0.5,
    manifest_concurrency=16,
    command_timeout_s=60.0,
    startup_restarts=2,
)
