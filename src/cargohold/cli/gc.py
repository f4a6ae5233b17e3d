"""``cargohold gc``: garbage collection on a running server, now, over its REST API (``POST /api/v1/gc``).

It removes the blobs nothing references any more (after a purge, a deleted image or repository), upload
sessions abandoned for longer than the server's ``gc.upload_max_idle_seconds`` and the orphan spools of
killed processes, and prints each with the bytes freed. ``--dry-run`` only says what would go.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cargohold.cli.client import path
from cargohold.cli.command import Api, api_command

KINDS = {"blob": "blob", "upload": "abandoned upload", "spool": "orphan spool", "work": "stale fetch file"}


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@api_command
def gc(api: Api, dry_run: bool) -> None:
    """Remove unreferenced blobs, abandoned uploads and orphan spools now (global admins)."""
    data = api.client.post(path("gc"), {"dry_run": dry_run})
    api.emit(data, report)


def report(out: Console, data: Any) -> None:
    """Each removed item, then the total."""
    data = data if isinstance(data, dict) else {}
    removed = [item for item in data.get("removed") or [] if isinstance(item, dict)]
    dry_run = bool(data.get("dry_run"))
    if removed:
        table = Table("What", "Name", "Bytes", title="Would remove" if dry_run else "Removed")
        for item in removed:
            kind = str(item.get("kind", ""))
            table.add_row(
                KINDS.get(kind, escape(kind)), escape(str(item.get("name", ""))), str(item.get("size", ""))
            )
        out.print(table)
    freed = data.get("bytes_freed", 0)
    verb = "would free" if dry_run else "freed"
    out.print(
        f"{len(removed)} item{'' if len(removed) == 1 else 's'}; {verb} {_size(freed)} ({freed} bytes)."
    )


def _size(value: Any) -> str:
    size = float(value) if isinstance(value, int | float) else 0.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
