"""The benchmark command: ``python -m bench [--quick] [--json FILE] [--client auto|aiohttp|wrk] [--keep]``.

It starts the upstream, pushes the content, starts cargohold, Distribution's proxy and the two relays in
front of it, runs every phase, prints the table (stdout; progress goes to stderr), optionally writes the
JSON, and removes its temporary directory. Exit status 0 when every figure was measured for every server,
1 otherwise; the targets' PASS/FAIL never changes the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.clients import ContainerTools

from bench.content import prepare_content
from bench.load import choose_client
from bench.phases import PHASES, Run, say
from bench.plan import DEFAULT, QUICK, Plan
from bench.report import Figures, judge, missing_figures, render_table, to_json
from bench.servers import SERVER_KEYS, start_proxies, start_upstream


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark cargohold's pull-through cache against CNCF Distribution's proxy mode.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs: a smoke run")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--client", choices=("auto", "aiohttp", "wrk"), default="auto",
        help="manifest load generator (auto: wrk when installed, else aiohttp)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, storage)")
    return parser


def _version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "unknown"


def _environment(client: str) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "distribution": _version(["docker-registry", "--version"]),
        "skopeo": _version(["skopeo", "--version"]),
        "cargohold_commit": _version(["git", "rev-parse", "--short", "HEAD"]),
        "manifest_client": client,
    }


def _measure(plan: Plan, client: str, workdir: Path) -> dict[str, Figures]:
    results = {key: Figures() for key in SERVER_KEYS}
    tools = ContainerTools(workdir / "tools")
    try:
        with start_upstream(workdir) as upstream:
            say(f"upstream Distribution on {upstream.host}; pushing content ({plan.name} plan)")
            content = asyncio.run(prepare_content(plan, tools, workdir, upstream.host))
            with start_proxies(workdir, upstream) as servers:
                for key, why in servers.failures.items():
                    results[key].errors["start"] = why
                    say(f"  ! {key} {why[:300]}")
                run = Run(
                    plan, content, servers.running, results, tools, workdir, upstream.service.log_path, client
                )
                for phase in PHASES:
                    phase(run)
    finally:
        tools.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring for the exit status."""
    args = _parser().parse_args(argv)
    plan = QUICK if args.quick else DEFAULT
    client = choose_client(args.client)
    workdir = Path(tempfile.mkdtemp(prefix="cargohold-bench-"))
    started = time.monotonic()
    try:
        results = _measure(plan, client, workdir)
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    verdicts = judge(results)
    environment = _environment(client)
    notes = f"{environment['cpus']} CPUs, manifest load with {client}, {time.monotonic() - started:.0f} s"
    print(render_table(plan, results, verdicts, notes), flush=True)
    if args.json is not None:
        document = to_json(plan, results, verdicts, environment)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    missing = missing_figures(results)
    if missing:
        say(f"not measured: {missing}")
    return 1 if missing else 0
