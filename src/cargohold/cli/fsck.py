"""``cargohold fsck [--repair] [--json]``: read every stored blob back and hold it to the metadata, with a
progress bar (``cargohold.registry.fsck``).

It works on the data directory and database of a config (the ``serve`` options ``--config`` and
``--data-dir``), not over the API: it reads every byte, which is the disk's work, not the server's. It may
run while the server serves. It prints each damaged, missing and orphaned blob with what holds it and what
was (or, without ``--repair``, would be) done, or with ``--json`` the report as JSON. Exit status: 0 when
nothing is damaged or missing, 1 when something is (repaired or not), 2 on a configuration problem.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from cargohold.cli.command import exit_with
from cargohold.config import Settings, load_settings
from cargohold.errors import ConfigError

EXIT_USAGE = 2
EXIT_PROBLEMS = 1


@click.command("fsck")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML config file of the server (default: $CARGOHOLD_CONFIG, else built-in defaults).",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Where blobs and SQLite live."
)
@click.option(
    "--repair",
    is_flag=True,
    help="Remove damaged files and forget cached manifests without good bytes (fetched again on the next "
    "pull); pushed content that is damaged or missing is reported as lost.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fsck(config_file: Path | None, data_dir: Path | None, repair: bool, as_json: bool) -> None:
    """Verify every stored blob's digest and size against the metadata."""
    try:
        settings = load_settings(config_file, data_dir=data_dir)
    except ConfigError as exc:
        exit_with(exc.message, EXIT_USAGE)
    try:
        report = asyncio.run(_check(settings, repair, show_progress=not as_json or sys.stderr.isatty()))
    except ConfigError as exc:
        exit_with(exc.message, EXIT_USAGE)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(Console(), report.as_dict())
    if not report.clean:
        raise SystemExit(EXIT_PROBLEMS)


async def _check(settings: Settings, repair: bool, *, show_progress: bool) -> Any:
    from cargohold.app import storage_check  # the server's dependencies only when the check runs

    async with storage_check(settings) as check:
        files = await check.list_files()
        progress = Progress(
            TextColumn("checking blobs"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
        )
        with progress:
            task = progress.add_task("fsck", total=sum(stored.size for stored in files))
            return await check.run(files, repair=repair, progress=lambda size: progress.advance(task, size))


def _print(out: Console, data: dict[str, Any]) -> None:
    findings = data["findings"]
    if findings:
        table = Table("Problem", "Blob", "What is wrong", "Held by", "Action", title="Findings")
        for finding in findings:
            table.add_row(
                finding["kind"],
                finding["digest"],
                escape(finding["problem"]),
                escape("\n".join(finding["held_by"])) or "-",
                escape(finding["action"]),
            )
        out.print(table)
    out.print(
        f"{data['files']} files, {data['bytes']} bytes read: {data['damaged']} damaged, "
        f"{data['missing']} missing, {data['orphaned']} orphaned"
        + (" (repaired)" if data["repair"] and (data["damaged"] or data["missing"]) else "")
        + "."
    )
