"""``cargohold storage migrate``: copy a filesystem blob store into the S3 bucket the configuration names.

It reads the same settings as ``cargohold serve`` (``storage.driver: s3`` and ``storage.s3``), takes the
blobs from ``<data_dir>/blobs`` (or ``--from DIR``, a former data dir), and copies each one with a Rich
progress bar; every copy is verified against its digest by the S3 driver. Blobs already in the bucket with
the right size are skipped, so an interrupted run can simply be started again. The metadata database is not
touched: after the migration, the same database serves the blobs from S3. Exit status 1 when a blob could
not be copied (each is named), 2 for a configuration problem.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

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

from cargohold.cli.command import exit_with
from cargohold.config import Settings, load_settings
from cargohold.errors import ConfigError

EXIT_FAILED = 1
EXIT_USAGE = 2


@click.group()
def storage() -> None:
    """Blob storage: move a filesystem store into S3."""


@storage.command("migrate")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML config file naming the S3 store (default: $CARGOHOLD_CONFIG).",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="The server's data dir (settings)."
)
@click.option(
    "--from",
    "source_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="The data dir whose blobs/ are copied (default: the data dir).",
)
@click.option(
    "--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Blobs copied at once."
)
def migrate(config_file: Path | None, data_dir: Path | None, source_dir: Path | None, jobs: int) -> None:
    """Copy every blob of a filesystem store into the configured S3 bucket (resumable, verified)."""
    try:
        settings = load_settings(config_file, data_dir=data_dir)
    except ConfigError as exc:
        exit_with(exc.message, EXIT_USAGE)
    if settings.storage.driver != "s3":
        exit_with("storage migrate copies into S3: the configuration must set storage.driver: s3", EXIT_USAGE)
    source = source_dir or settings.data_dir
    if not (source / "blobs").is_dir():
        exit_with(f"{source} has no blobs/ directory: nothing to migrate", EXIT_USAGE)
    try:
        failed = asyncio.run(_migrate(settings, source, jobs))
    except ConfigError as exc:
        exit_with(exc.message, EXIT_USAGE)
    if failed:
        raise SystemExit(EXIT_FAILED)


async def _migrate(settings: Settings, source_dir: Path, jobs: int) -> int:
    from cargohold.app import s3_options
    from cargohold.storage.filesystem import FilesystemBlobStore
    from cargohold.storage.migrate import migrate as copy_blobs
    from cargohold.storage.migrate import plan
    from cargohold.storage.s3 import S3BlobStore

    console = Console(stderr=True, highlight=False)
    source = FilesystemBlobStore(source_dir)
    target = await S3BlobStore.open(s3_options(settings), settings.data_dir)
    try:
        await target.check()
        blobs = await plan(source)
        total = sum(blob.size for blob in blobs)
        columns = (
            TextColumn("[bold]migrating"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("blobs", total=total)
            report = await copy_blobs(
                source, target, blobs, on_bytes=lambda n: progress.advance(task, n), jobs=jobs
            )
    finally:
        await target.close()
    out = Console(highlight=False, soft_wrap=True)
    for digest, reason in report.failed:
        out.print(f"[red]not copied[/] {escape(digest)}: {escape(reason)}")
    out.print(
        f"{report.copied} blob{'' if report.copied == 1 else 's'} copied ({report.copied_bytes} bytes), "
        f"{report.skipped} already in S3, {len(report.failed)} failed "
        f"(bucket {escape(target.bucket)}, prefix {escape(target.keys.prefix) or '(none)'})"
    )
    return len(report.failed)
