"""Contract: usage counters add up — within one store, and across worker processes that flush at the same
time through ``StatsRecorder`` — and deltas for a deleted repository are dropped without an error."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from typing import Protocol

from cargohold.metadata.sql import Metadata
from cargohold.models import Proxy, Repository


class Backend(Protocol):
    """The ``backend`` fixture of conftest.py."""

    name: str
    url: str
    schema: str | None

    async def open(self) -> Metadata: ...


WORKERS = 4
ROUNDS = 15
PER_ROUND = 7

FLUSHING_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from cargohold.metadata.sql import open_metadata
    from cargohold.proxy.stats import StatsRecorder

    async def main() -> None:
        metadata = await open_metadata(sys.argv[1], schema=sys.argv[2] or None)
        repository = await metadata.repositories.get_repository("hub")
        recorder = StatsRecorder(metadata.stats)
        for _ in range(int(sys.argv[3])):
            for _ in range(int(sys.argv[4])):
                recorder.request(repository.id, hit=True, bytes_from_cache=1000)
                recorder.fetched(repository.id, "upstream", 10)
                recorder.failure(repository.id, "upstream", "timeout")
            await recorder.flush()
        await metadata.close()

    asyncio.run(main())
    """
)


async def test_counters_add_up(metadata: Metadata) -> None:
    hub = await metadata.repositories.create_repository(
        Repository(name="hub"), [Proxy("a", "https://a.example.com")]
    )
    assert hub.id is not None
    assert await metadata.stats.counters(hub.id) == {}
    await metadata.stats.add_to_counters(
        {(hub.id, "", "requests"): 2, (hub.id, "a", "bytes_fetched"): 5_000_000_000}
    )
    await metadata.stats.add_to_counters({(hub.id, "", "requests"): 3, (hub.id, "a", "failures.tls"): 1})
    await metadata.stats.add_to_counters({(hub.id, "", "stale_served"): 0})
    await metadata.stats.add_to_counters({})
    assert await metadata.stats.counters(hub.id) == {
        ("", "requests"): 5,
        ("a", "bytes_fetched"): 5_000_000_000,
        ("a", "failures.tls"): 1,
    }


async def test_counters_of_a_deleted_repository_are_dropped(metadata: Metadata) -> None:
    hub = await metadata.repositories.create_repository(Repository(name="hub"))
    gone = await metadata.repositories.create_repository(Repository(name="gone"))
    assert hub.id is not None
    assert gone.id is not None
    await metadata.stats.add_to_counters({(gone.id, "", "requests"): 1})
    assert await metadata.repositories.delete_repository("gone")
    await metadata.stats.add_to_counters({(gone.id, "", "requests"): 1, (hub.id, "", "requests"): 1})
    assert await metadata.stats.counters(hub.id) == {("", "requests"): 1}
    assert await metadata.stats.counters(gone.id) == {}


async def test_removing_a_proxy_drops_its_counters(metadata: Metadata) -> None:
    hub = await metadata.repositories.create_repository(
        Repository(name="hub"), [Proxy("a", "https://a.example.com"), Proxy("b", "https://b.example.com")]
    )
    assert hub.id is not None
    await metadata.stats.add_to_counters(
        {(hub.id, "a", "hits"): 1, (hub.id, "b", "hits"): 2, (hub.id, "", "requests"): 3}
    )
    await metadata.repositories.remove_proxy("hub", "a")
    assert await metadata.stats.counters(hub.id) == {("b", "hits"): 2, ("", "requests"): 3}


async def test_worker_processes_flushing_together_lose_nothing(backend: Backend) -> None:
    metadata = await backend.open()
    try:
        hub = await metadata.repositories.create_repository(
            Repository(name="hub"), [Proxy("upstream", "https://u.example.com")]
        )
        assert hub.id is not None
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                FLUSHING_WORKER,
                backend.url,
                backend.schema or "",
                str(ROUNDS),
                str(PER_ROUND),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(WORKERS)
        ]
        outcomes = [await process.communicate() for process in processes]
        for process, (_, stderr) in zip(processes, outcomes, strict=True):
            assert process.returncode == 0, stderr.decode()
        events = WORKERS * ROUNDS * PER_ROUND
        assert await metadata.stats.counters(hub.id) == {
            ("", "requests"): events,
            ("", "cache_hits"): events,
            ("", "bytes_served_from_cache"): events * 1000,
            ("", "bytes_fetched_upstream"): events * 10,
            ("upstream", "requests"): events * 2,
            ("upstream", "hits"): events,
            ("upstream", "bytes_fetched"): events * 10,
            ("upstream", "failures.timeout"): events,
        }
    finally:
        await metadata.close()
