"""The benchmark harness (``python -m bench``) runs end to end and reports every figure for every server.

A ``--quick`` run starts the Distribution upstream, cargohold, Distribution's proxy and the two relays, and
must produce each figure of issue 3 for both proxies (and the direct reference), the pull figures of the
relays, a judged verdict for each target, and the table on stdout. Timings are never asserted: this is
a smoke test of the harness, not a performance test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.timeout(240)]

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMON = (
    "cold_pull_s",
    "warm_pull_s",
    "blob_mib_s",
    "manifest_tag_rps",
    "manifest_digest_rps",
    "peak_rss_mb",
)
PROXY_ONLY = (
    "upstream_gets_per_blob",
    "startup_first_s",  # start-up: both proxies started anew, then restarted
    "startup_first_hwm_mib",
    "startup_restart_s",
    "startup_restart_hwm_mib",
)
RELAY = ("cold_pull_s", "warm_pull_s")  # the relays only pull


def test_quick_run_reports_every_figure_for_both_servers(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=REPO_ROOT, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=210, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    document = json.loads(out.read_text())
    servers = document["servers"]
    for key, wanted in (
        ("direct", COMMON),
        ("cargohold", COMMON + PROXY_ONLY),
        ("distribution", COMMON + PROXY_ONLY),
        ("relay", RELAY),
        ("floor", RELAY),
    ):
        figures = servers[key]
        assert figures["errors"] == {}, (key, figures["errors"])
        for name in wanted:
            value = figures[name]
            assert value is not None, (key, name)
            if name == "upstream_gets_per_blob":
                assert value, key
                assert all(count >= 1 for count in value.values()), (key, value)
            else:
                assert value > 0, (key, name, value)
        cpu = figures["cold_pull_cpu_samples"]  # one per cold pull; 10 ms ticks, so a small one may read 0
        assert len(cpu) == len(figures["cold_pull_samples"]), key
        assert all(seconds >= 0 for seconds in cpu), (key, cpu)
    assert servers["cargohold"]["herd_failed_pulls"] == 0  # Distribution's proxy may fail some: its own bug
    assert document["missing"] == {}
    assert document["direct_pull_reference_s"] > 0
    verdicts = {(v["server"], v["target"]): v["passed"] for v in document["targets"]}
    assert len(verdicts) == 13
    assert ("cargohold", "restart to first answer < 2 s") in verdicts
    assert ("cargohold", "VmHWM at a restart's first answer < 100 MiB") in verdicts
    assert ("floor", "cold pull within 10% of a direct pull") in verdicts
    assert ("relay", "cold pull within 10% of a direct pull") in verdicts
    assert all(isinstance(passed, bool) for passed in verdicts.values()), verdicts

    servers = (
        "upstream (direct)",
        "relay, no cache file",
        "caching relay (floor)",
        "cargohold",
        "Distribution proxy",
    )
    for label in (
        *servers, "server CPU during that cold pull (ms)", "targets (issue 3)", "restart to first answer",
    ):  # fmt: skip
        assert label in result.stdout


def test_the_page_cache_probe_prints_both_costs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.pagecache", "--dir", str(tmp_path), "--mib", "4", "--rounds", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    new, recycled = (float(line.split()[-2]) for line in result.stdout.splitlines())
    assert new > 0
    assert recycled > 0
    assert list(tmp_path.iterdir()) == []  # its files are removed
