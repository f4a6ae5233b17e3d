"""``cargohold warm REF…``: fetch images into a repository's cache ahead of time, on the server
(``POST /api/v1/repositories/{repo}/warm``), with a progress bar per layer while the server reports, and a
summary: fetched, already cached, failed. A reference is ``REPOSITORY/IMAGE[:TAG|@DIGEST]``, as a client would
pull it; ``--from-file`` reads more, one per line. The exit status is 1 when anything failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

from cargohold.cli.client import path
from cargohold.cli.command import EXIT_API_ERROR, Api, api_command


def _references(arguments: Iterable[str], from_file: IO[str] | None) -> dict[str, list[str]]:
    """The images to warm, grouped by repository in the order first named."""
    lines = [line.split("#", 1)[0].strip() for line in from_file] if from_file is not None else []
    grouped: dict[str, list[str]] = {}
    for reference in [*arguments, *(line for line in lines if line)]:
        repository, _, image = reference.partition("/")
        if not repository or not image:
            raise click.BadParameter(
                f"{reference!r} names no image: use REPOSITORY/IMAGE[:TAG|@DIGEST]", param_hint="REF"
            )
        grouped.setdefault(repository, []).append(image)
    if not grouped:
        raise click.UsageError("name at least one image (REF or --from-file)")
    return grouped


@click.command("warm")
@click.argument("references", metavar="REF...", nargs=-1)
@click.option(
    "--from-file",
    type=click.File("r"),
    help="Also warm the references in FILE, one per line (# starts a comment; - reads stdin).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="OS/ARCH[/VARIANT]",
    help="Of a multi-platform image, only this platform (repeatable; default: all).",
)
@api_command
def warm(
    api: Api, references: tuple[str, ...], from_file: IO[str] | None, platforms: tuple[str, ...]
) -> None:
    """Fetch images into the cache ahead of time (REF is REPOSITORY/IMAGE[:TAG|@DIGEST])."""
    totals = {"fetched": 0, "cached": 0, "failed": 0}
    for repository, images in _references(references, from_file).items():
        events = api.client.stream(
            "POST",
            path("repositories", repository, "warm"),
            {"images": images, "platforms": list(platforms)},
        )
        summary = _print_json(events) if api.json else _show(api.out, repository, events)
        for key in totals:
            totals[key] += int(summary.get(key) or 0)
    if not api.json:
        api.out.print(
            f"[bold]{totals['fetched']}[/] blobs fetched, [bold]{totals['cached']}[/] already cached, "
            f"[bold]{totals['failed']}[/] failed"
        )
    if totals["failed"]:
        raise SystemExit(EXIT_API_ERROR)


def _print_json(events: Iterable[Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for event in events:
        click.echo(json.dumps(event, separators=(",", ":")))
        if isinstance(event, dict) and event.get("event") == "summary":
            summary = event
    return summary


def _show(out: Console, repository: str, events: Iterable[Any]) -> dict[str, Any]:
    """Render the events: a line per image, a bar per blob while it is fetched; answer the summary."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    summary: dict[str, Any] = {}
    with Progress(*columns, console=out) as progress:
        bars = _Bars(progress)
        for event in events:
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "image":
                _image_line(progress.console, repository, event)
            elif kind in ("blob", "progress", "blob_done"):
                bars.update(event)
            elif kind == "summary":
                summary = event
    return summary


class _Bars:
    """A progress bar per blob, named by its short digest (and platform), marked with its outcome."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def update(self, event: dict[str, Any]) -> None:
        digest = str(event.get("digest") or "")
        done = event.get("bytes") or 0
        if event.get("event") == "blob":
            platform = f" {event['platform']}" if event.get("platform") else ""
            label = escape(digest.removeprefix("sha256:")[:12] + platform)
            self._tasks[digest] = self._progress.add_task(label, total=event.get("size"))
            return
        task = self._tasks.get(digest)
        if task is None:
            return
        if event.get("event") == "progress":
            self._progress.update(task, completed=done)
            return
        status = str(event.get("status"))
        label = f"{self._progress.tasks[task].description} {status}"
        self._progress.update(task, completed=done, total=done or None, description=label)
        if status == "failed":
            self._progress.console.print(f"[red]{escape(digest)}: {escape(str(event.get('detail')))}[/]")


def _image_line(console: Console, repository: str, event: dict[str, Any]) -> None:
    name = escape(f"{repository}/{event.get('image')}")
    platform = f" ({escape(str(event['platform']))})" if event.get("platform") else ""
    status = str(event.get("status"))
    if status == "failed":
        console.print(f"[red]{name}{platform}: {escape(str(event.get('detail')))}[/]")
    else:
        console.print(f"{name}{platform}: manifest {status}")
