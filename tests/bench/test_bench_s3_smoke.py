"""``python -m bench.s3 --quick`` runs end to end: moto, a Distribution upstream and three cargohold servers
(filesystem, S3, S3 with redirects), and prints a figure for each. Timings are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_prints_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.s3", "--quick"], cwd=REPO_ROOT, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=280, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"filesystem", "s3", "s3-redirect"}
    for name in ("filesystem", "s3"):
        assert float(rows[name][0]) > 0, "a cold pull time"
    for values in rows.values():
        assert float(values[-1]) > 0, "a cached blob throughput"
