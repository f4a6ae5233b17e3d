"""``cargohold repo …``: the repositories of a running server, over its REST API.

Owns the Click group ``repo`` (list, show, create, edit, delete, images, purge, stats, storage), built on
``cargohold.cli.command.api_command`` (``--server``, ``--json``, exit statuses); the answers are shown by
``cargohold.cli.output``. A repository's proxies have their own group, ``cargohold proxy``
(``cargohold.cli.proxy``).
"""

from __future__ import annotations

import click

from cargohold.cli import output as show
from cargohold.cli.client import path
from cargohold.cli.command import Api, api_command, changes, if_match_option


@click.group()
def repo() -> None:
    """Manage repositories: settings, images, cached content and statistics."""


@repo.command("list")
@api_command
def repo_list(api: Api) -> None:
    """List the repositories."""
    data = api.client.get(path("repositories"))
    api.emit(data, show.repositories)


@repo.command("show")
@click.argument("name")
@api_command
def repo_show(api: Api, name: str) -> None:
    """Show repository NAME with its proxies in priority order."""
    data, etag = api.client.get_tagged(path("repositories", name))
    if api.json:
        show.print_json(data)
    else:
        show.repository(api.out, data)
        api.out.print(f"  [dim]{'etag':<11}[/] {show.text(etag)}  (for --if-match)")


@repo.command("create")
@click.argument("name")
@click.option("--private", is_flag=True, help="Only signed-in clients may pull (default: public).")
@click.option("--default", "is_default", is_flag=True, help="Answer image names that match no repository.")
@click.option(
    "--host", "hosts", multiple=True, metavar="HOST", help="A registry host it stands for (repeat)."
)
@click.option("--tag-ttl", type=int, metavar="SECONDS", help="How long a cached tag is served unchecked.")
@click.option(
    "--max-cached", metavar="SIZE", help='Quota on cached content: bytes or "100MiB", "50GiB" (0: none).'
)
@click.option(
    "--evict-unused-after", "evict_days", type=int, metavar="DAYS",
    help="Evict cached images not pulled for DAYS days (0: never).",
)  # fmt: skip
@click.option(
    "--pin", "pins", multiple=True, metavar="PATTERN",
    help="An image or tag never evicted: IMAGE, IMAGE:TAG or IMAGE@DIGEST, globs allowed (repeat).",
)  # fmt: skip
@api_command
def repo_create(
    api: Api,
    name: str,
    private: bool,
    is_default: bool,
    hosts: tuple[str, ...],
    tag_ttl: int | None,
    max_cached: str | None,
    evict_days: int | None,
    pins: tuple[str, ...],
) -> None:
    """Create repository NAME (add proxies with `cargohold proxy add`)."""
    body = {"name": name, "visibility": "private" if private else "public", "default": is_default}
    body |= changes(hosts=list(hosts) if hosts else None, tag_ttl_seconds=tag_ttl)
    body |= changes(
        max_cached_bytes=_size(max_cached), evict_unused_after_days=evict_days, pins=list(pins) or None
    )
    data = api.client.post(path("repositories"), body)
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Created repository [bold]{show.text(name)}[/].")
        show.repository(api.out, data)


@repo.command("edit")
@click.argument("name")
@click.option("--private/--public", default=None, help="Change the visibility.")
@click.option("--default/--no-default", "is_default", default=None, help="Make it the default or not.")
@click.option("--host", "hosts", multiple=True, metavar="HOST", help="Replace the hosts (repeat).")
@click.option("--no-hosts", is_flag=True, help="Remove every host.")
@click.option("--tag-ttl", type=int, metavar="SECONDS", help="How long a cached tag is served unchecked.")
@click.option(
    "--max-cached", metavar="SIZE", help='Quota on cached content: bytes or "100MiB", "50GiB" (0: none).'
)
@click.option(
    "--evict-unused-after", "evict_days", type=int, metavar="DAYS",
    help="Evict cached images not pulled for DAYS days (0: never).",
)  # fmt: skip
@click.option(
    "--pin", "pins", multiple=True, metavar="PATTERN",
    help="An image or tag never evicted: IMAGE, IMAGE:TAG or IMAGE@DIGEST, globs allowed (repeat).",
)  # fmt: skip
@click.option("--no-pins", is_flag=True, help="Remove every pin.")
@if_match_option
@api_command
def repo_edit(
    api: Api,
    name: str,
    private: bool | None,
    is_default: bool | None,
    hosts: tuple[str, ...],
    no_hosts: bool,
    tag_ttl: int | None,
    max_cached: str | None,
    evict_days: int | None,
    pins: tuple[str, ...],
    no_pins: bool,
    if_match: str | None,
) -> None:
    """Change settings of repository NAME; what is not given stays as it is (--pin replaces the pins)."""
    if hosts and no_hosts:
        raise click.UsageError("--host and --no-hosts exclude each other")
    if pins and no_pins:
        raise click.UsageError("--pin and --no-pins exclude each other")
    body = changes(
        visibility=None if private is None else ("private" if private else "public"),
        default=is_default,
        hosts=[] if no_hosts else (list(hosts) if hosts else None),
        tag_ttl_seconds=tag_ttl,
        max_cached_bytes=_size(max_cached),
        evict_unused_after_days=evict_days,
        pins=[] if no_pins else (list(pins) if pins else None),
    )
    if not body:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    data = api.client.patch(path("repositories", name), body, if_match=if_match)
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Updated repository [bold]{show.text(name)}[/].")
        show.repository(api.out, data)


@repo.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@if_match_option
@api_command
def repo_delete(api: Api, name: str, yes: bool, if_match: str | None) -> None:
    """Delete repository NAME with its pushed images and cached content."""
    if not yes:
        click.confirm(
            f"Delete repository {name!r} with all its images and cached content?", abort=True, err=True
        )
    data = api.client.delete(path("repositories", name), if_match=if_match)
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Deleted repository [bold]{show.text(name)}[/].")


@repo.command("images")
@click.argument("name")
@click.argument("image", required=False)
@api_command
def repo_images(api: Api, name: str, image: str | None) -> None:
    """List the images of repository NAME (or only IMAGE) with their tags, sizes and source."""
    if image is None:
        data = api.client.get(path("repositories", name, "images"))
        api.emit(data, show.images)
    else:
        data = api.client.get(path("repositories", name, "images", image))
        api.emit(data, lambda out, d: show.images(out, [d]))


@repo.command("purge")
@click.argument("name")
@click.option("--proxy", "proxy_name", metavar="PROXY", help="Only what this proxy fetched.")
@api_command
def repo_purge(api: Api, name: str, proxy_name: str | None) -> None:
    """Remove the cached (proxied) content of repository NAME; pushed images stay."""
    data = api.client.post(path("repositories", name, "purge"), changes(proxy=proxy_name))
    api.emit(data, lambda out, d: show.purge(out, name, proxy_name, d or {}))


@repo.command("stats")
@click.argument("name")
@api_command
def repo_stats(api: Api, name: str) -> None:
    """Show request, cache and upstream statistics of repository NAME and the health of its proxies."""
    data = api.client.get(path("repositories", name, "stats"))
    api.emit(data, show.stats)


@repo.command("storage")
@click.argument("name")
@api_command
def repo_storage(api: Api, name: str) -> None:
    """Show the bytes repository NAME holds (local and cached) and its biggest and least recently pulled
    images."""
    data = api.client.get(path("repositories", name, "storage"))
    api.emit(data, show.storage_breakdown)


def _size(value: str | None) -> int | str | None:
    """A size as the API takes it: whole bytes as a number, anything else (``100MiB``) as text."""
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value
