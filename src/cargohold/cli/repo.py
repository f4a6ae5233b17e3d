"""``cargohold repo …``, and what every command that manages a running server over its REST API shares.

Owns ``api_command`` (the ``--server`` and ``--json`` options, the ``Api`` a command gets, and the error
report) and the Click group ``repo`` (list, show, create, edit, delete, images, purge, stats); the ``proxy``
group lives in ``cargohold.cli_proxy``. Both are registered on ``cargohold.cli.cli``. Every command talks to
``/api/v1`` over HTTP only (``cargohold.cli_http``; notes/management.md), on ``--server`` (default
``$CARGOHOLD_SERVER``, else http://127.0.0.1:5000) with ``$CARGOHOLD_TOKEN`` as a Bearer token when set. It
prints Rich tables (``cargohold.cli_output``), or with ``--json`` exactly the API's JSON. Exit status: 0 on
success, 1 on an API or connection error (one line on stderr, never a traceback) or a failed proxy test, 2 on
a usage error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console

from cargohold import cli_output as show
from cargohold.cli_http import DEFAULT_SERVER, ApiClient, CommandError, check_server_url, path

EXIT_API_ERROR = 1

Command = Callable[..., Any]


@dataclass(frozen=True)
class Api:
    """What every management command gets: the client, whether to print JSON, and the console."""

    client: ApiClient
    json: bool
    out: Console

    def emit(self, data: Any, render: Callable[[Console, Any], None]) -> None:
        """The answer as JSON with ``--json``, else through ``render`` for a person."""
        if self.json:
            show.print_json(data)
        else:
            render(self.out, data)


def _server_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_server_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def server_option(help_text: str) -> Callable[[Command], Command]:
    """The ``--server URL`` option (or ``CARGOHOLD_SERVER``), checked to be a server's base URL."""
    return click.option(
        "--server",
        metavar="URL",
        envvar="CARGOHOLD_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        show_envvar=True,
        callback=_server_url,
        help=help_text,
    )


def api_command(func: Command) -> Command:
    """Give ``func`` the ``--server`` and ``--json`` options and an ``Api`` first argument; report errors."""

    @server_option("The cargohold server to manage.")
    @click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer (for scripts).")
    @functools.wraps(func)
    def wrapper(*args: Any, server: str, as_json: bool, **kwargs: Any) -> Any:
        api = Api(ApiClient(server, os.environ.get("CARGOHOLD_TOKEN") or None), as_json, show.console())
        try:
            return func(api, *args, **kwargs)
        except CommandError as exc:
            click.echo(f"cargohold: {exc}", err=True)
            raise SystemExit(EXIT_API_ERROR) from None

    return wrapper


def changes(**fields: Any) -> dict[str, Any]:
    """The fields that were given (None means "leave unchanged")."""
    return {key: value for key, value in fields.items() if value is not None}


# ---------------------------------------------------------------------------------------------- repositories


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
    data = api.client.get(path("repositories", name))
    api.emit(data, show.repository)


@repo.command("create")
@click.argument("name")
@click.option("--private", is_flag=True, help="Only signed-in clients may pull (default: public).")
@click.option("--default", "is_default", is_flag=True, help="Answer image names that match no repository.")
@click.option(
    "--host", "hosts", multiple=True, metavar="HOST", help="A registry host it stands for (repeat)."
)
@click.option("--tag-ttl", type=int, metavar="SECONDS", help="How long a cached tag is served unchecked.")
@api_command
def repo_create(
    api: Api, name: str, private: bool, is_default: bool, hosts: tuple[str, ...], tag_ttl: int | None
) -> None:
    """Create repository NAME (add proxies with `cargohold proxy add`)."""
    body = {"name": name, "visibility": "private" if private else "public", "default": is_default}
    body |= changes(hosts=list(hosts) if hosts else None, tag_ttl_seconds=tag_ttl)
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
@api_command
def repo_edit(
    api: Api,
    name: str,
    private: bool | None,
    is_default: bool | None,
    hosts: tuple[str, ...],
    no_hosts: bool,
    tag_ttl: int | None,
) -> None:
    """Change settings of repository NAME; what is not given stays as it is."""
    if hosts and no_hosts:
        raise click.UsageError("--host and --no-hosts exclude each other")
    body = changes(
        visibility=None if private is None else ("private" if private else "public"),
        default=is_default,
        hosts=[] if no_hosts else (list(hosts) if hosts else None),
        tag_ttl_seconds=tag_ttl,
    )
    if not body:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    data = api.client.patch(path("repositories", name), body)
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Updated repository [bold]{show.text(name)}[/].")
        show.repository(api.out, data)


@repo.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@api_command
def repo_delete(api: Api, name: str, yes: bool) -> None:
    """Delete repository NAME with its pushed images and cached content."""
    if not yes:
        click.confirm(
            f"Delete repository {name!r} with all its images and cached content?", abort=True, err=True
        )
    data = api.client.delete(path("repositories", name))
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
