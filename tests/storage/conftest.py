"""Fixtures of the storage contract suite: every test runs once per blob store driver, the filesystem driver
in ``tmp_path`` and the S3 driver against a real moto server (``tests.support.s3``) in a bucket of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cargohold.models import Digest
from cargohold.storage.base import BlobStore, SweepableStore
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3_sweeping import S3Sweeper
from cargohold.storage.sweeping import FilesystemSweeper
from tests.support.s3 import S3Server

PART = 5 * 1024 * 1024  # the S3 driver's part size in these tests (S3's smallest)


@dataclass
class Driver:
    """One driver under test: its store and sweeper, and what a test needs to look behind them."""

    name: str
    store: BlobStore
    sweeper: SweepableStore
    reopen: Callable[[], Awaitable[BlobStore]]
    """Another store on the same bytes, sharing no memory with ``store`` (another process or node)."""
    damage: Callable[[Digest, bytes], Awaitable[None]]
    """Overwrite a committed blob's bytes behind the store's back."""
    in_flight: Callable[[], Awaitable[int]]
    """How many uploads' bytes the backend holds besides committed blobs (spool files, multipart uploads)."""
    opened: list[BlobStore] = field(default_factory=list)


@pytest.fixture(params=["filesystem", "s3"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Driver]:
    if request.param == "filesystem":
        root = tmp_path / "data"
        fs = FilesystemBlobStore(root)

        async def reopen_fs() -> BlobStore:
            return FilesystemBlobStore(root)

        async def damage_fs(digest: Digest, data: bytes) -> None:
            fs.blob_path(digest).write_bytes(data)

        async def in_flight_fs() -> int:
            return sum(1 for area in ("uploads", "tmp") for p in (root / area).iterdir() if p.is_file())

        yield Driver("filesystem", fs, FilesystemSweeper(fs), reopen_fs, damage_fs, in_flight_fs)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    options = server.options(bucket, prefix="cargohold/")
    s3 = await S3BlobStore.open(options, tmp_path / "spool")
    opened: list[S3BlobStore] = [s3]

    async def reopen_s3() -> BlobStore:
        other = await S3BlobStore.open(options, tmp_path / "spool")
        opened.append(other)
        return other

    async def damage_s3(digest: Digest, data: bytes) -> None:
        server.client().put_object(Bucket=bucket, Key=s3.keys.blob(digest), Body=data)

    async def in_flight_s3() -> int:
        client = server.client()
        objects = client.list_objects_v2(Bucket=bucket, Prefix="cargohold/uploads/").get("Contents", [])
        multipart = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        spools = [p for p in (tmp_path / "spool" / "uploads").iterdir() if p.is_file()]
        return len(objects) + len(multipart) + len(spools)

    try:
        yield Driver("s3", s3, S3Sweeper(s3), reopen_s3, damage_s3, in_flight_s3)
    finally:
        for store in opened:
            await store.close()
