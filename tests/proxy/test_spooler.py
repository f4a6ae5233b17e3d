"""The background spool writer: writes in order, bounds what waits for the disk, surfaces a failed write."""

from __future__ import annotations

import asyncio

import pytest

from cargohold.models import Digest
from cargohold.proxy.flight import Flight
from cargohold.proxy.spooler import Spooler


class DiskDouble:
    """A BlobWriter stand-in: records writes; each waits for ``gate``; fails with ``error`` when given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.written: list[bytes] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.error = error

    @property
    def flushed(self) -> int:
        return sum(len(chunk) for chunk in self.written)

    async def write(self, data: bytes) -> None:
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.written.append(data)


def flight() -> Flight:
    return Flight(Digest.of(b"whatever"))


async def test_chunks_are_written_in_order() -> None:
    disk = DiskDouble()
    spooler = Spooler(disk, flight())  # type: ignore[arg-type]  # the double has what Spooler uses
    for chunk in (b"a", b"bb", b"ccc"):
        await spooler.put(chunk)
    await spooler.finish()
    assert disk.written == [b"a", b"bb", b"ccc"]


async def test_put_waits_while_the_backlog_is_full() -> None:
    disk = DiskDouble()
    disk.gate.clear()  # the disk is stuck
    spooler = Spooler(disk, flight(), backlog=10)  # type: ignore[arg-type]
    await spooler.put(b"x" * 4)
    blocked = asyncio.ensure_future(spooler.put(b"y" * 8))  # 12 bytes waiting: over the bound
    done, _ = await asyncio.wait({blocked}, timeout=0.2)
    assert not done, "put must wait while more than the backlog waits for the disk"
    disk.gate.set()
    await asyncio.wait_for(blocked, 10)
    await spooler.finish()
    assert b"".join(disk.written) == b"x" * 4 + b"y" * 8


async def test_a_failed_write_surfaces_from_finish() -> None:
    disk = DiskDouble(OSError(28, "No space left on device"))
    spooler = Spooler(disk, flight())  # type: ignore[arg-type]
    await spooler.put(b"a")
    with pytest.raises(OSError, match="No space left"):
        await spooler.finish()
    await spooler.close()


async def test_a_failed_write_releases_a_waiting_put() -> None:
    disk = DiskDouble(OSError(5, "Input/output error"))
    disk.gate.clear()
    spooler = Spooler(disk, flight(), backlog=1)  # type: ignore[arg-type]
    blocked = asyncio.ensure_future(spooler.put(b"ab"))
    disk.gate.set()
    with pytest.raises(OSError, match="Input/output"):
        await asyncio.wait_for(blocked, 10)
    await spooler.close()
