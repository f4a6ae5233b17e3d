"""The readiness checks on their own: the free-space reserve, a check that hangs, a check that breaks, and
probes that arrive together sharing one run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cargohold.api.health import CheckResult, Readiness, blob_store_check, free_space_check
from cargohold.storage.readiness import free_bytes


async def test_free_space_below_the_reserve_fails_and_says_how_much(tmp_path: Path) -> None:
    free = free_bytes(tmp_path)
    assert (await free_space_check(tmp_path, 0)()).error is None
    result = await free_space_check(tmp_path, free * 2)()
    assert result.error is not None
    assert "below the reserve" in result.error
    assert result.as_json()["reserve_bytes"] == free * 2
    assert result.as_json()["ok"] is False


async def test_a_missing_spool_directory_fails_the_blob_store(tmp_path: Path) -> None:
    result = await blob_store_check(tmp_path / "gone")()
    assert result.error is not None
    assert result.error.startswith("cannot write")
    assert (await blob_store_check(tmp_path)()).error is None
    assert list(tmp_path.iterdir()) == []


async def test_a_hanging_or_broken_check_is_a_failed_check_not_an_error() -> None:
    async def hangs() -> CheckResult:
        await asyncio.Event().wait()
        return CheckResult()

    async def breaks() -> CheckResult:
        raise RuntimeError("bug")

    async def passes() -> CheckResult:
        return CheckResult()

    results = await Readiness({"slow": hangs, "bad": breaks, "good": passes}, timeout=0.05).results()
    assert results["slow"].error == "no answer within 0.05 s"
    assert results["bad"].error == "the check failed (RuntimeError)"
    assert results["good"].error is None


async def test_probes_together_share_one_run_and_a_fresh_result_is_reused() -> None:
    runs = 0
    release = asyncio.Event()

    async def counted() -> CheckResult:
        nonlocal runs
        runs += 1
        await release.wait()
        return CheckResult()

    readiness = Readiness({"counted": counted}, ttl=60)
    probes = [asyncio.create_task(readiness.results()) for _ in range(10)]
    for _ in range(10):  # passes of the event loop (no timing): the probes start, then their one run does
        if runs:
            break
        await asyncio.sleep(0)
    assert runs == 1  # all ten are waiting now, on one run
    release.set()
    assert all(result["counted"].error is None for result in await asyncio.gather(*probes))
    await readiness.results()
    assert runs == 1
