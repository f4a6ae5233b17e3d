"""``cargohold repo …`` and ``cargohold proxy …``: managing a running server over its REST API.

Owns the Click groups ``repo`` (list, show, create, edit, delete, images, purge, stats) and ``proxy`` (list,
add, edit, move, enable, disable, remove, test), registered on ``cargohold.cli.cli``. Every command talks to
``/api/v1`` over HTTP only (``cargohold.cli_http``; notes/management.md), on ``--server`` (default
``$CARGOHOLD_SERVER``, else http://127.0.0.1:5000) with ``$CARGOHOLD_TOKEN`` as a Bearer token when set. It
prints Rich tables (``cargohold.cli_output``), or with ``--json`` exactly the API's JSON. Exit status: 0 on
success, 1 on an API or connection error (one line on stderr, never a traceback) or a failed proxy test, 2 on
a usage error. A proxy password is read from stdin (``--password-stdin``) or a hidden prompt
(``--password-prompt``), never from argv, and no command prints it.
"""

from __future__ import annotations

import functools
import os
import sys
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


def api_command(func: Command) -> Command:
    """Give ``func`` the ``--server`` and ``--json`` options and an ``Api`` first argument; report errors."""

    @click.option(
        "--server",
        metavar="URL",
        envvar="CARGOHOLD_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        show_envvar=True,
        callback=_server_url,
        help="The cargohold server to manage.",
    )
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


def _changes(**fields: Any) -> dict[str, Any]:
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
    body |= _changes(hosts=list(hosts) if hosts else None, tag_ttl_seconds=tag_ttl)
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
    body = _changes(
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
    data = api.client.post(path("repositories", name, "purge"), _changes(proxy=proxy_name))
    api.emit(data, lambda out, d: show.purge(out, name, proxy_name, d or {}))


@repo.command("stats")
@click.argument("name")
@api_command
def repo_stats(api: Api, name: str) -> None:
    """Show request, cache and upstream statistics of repository NAME and the health of its proxies."""
    data = api.client.get(path("repositories", name, "stats"))
    api.emit(data, show.stats)


# --------------------------------------------------------------------------------------------------- proxies


def _password(from_stdin: bool, prompt: bool, clear: bool = False) -> str | None:
    """The password from one line of stdin or a hidden prompt (None: not given); never from argv."""
    if from_stdin + prompt + clear > 1:
        raise click.UsageError("give only one of --password-stdin, --password-prompt and --clear-password")
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: standard input has no password line")
        return password
    if prompt:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        if not password:
            raise click.UsageError("the password is empty")
        return str(password)
    return None


def _password_options(func: Command) -> Command:
    func = click.option(
        "--password-prompt", is_flag=True, help="Ask for the password (hidden input, asked twice)."
    )(func)
    return click.option(
        "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
    )(func)


def _proxy_options(func: Command) -> Command:
    func = _password_options(func)
    for decorator in reversed(
        (
            click.option("--username", metavar="USER", help="User name for the upstream."),
            click.option(
                "--ssl-validation/--no-ssl-validation",
                default=None,
                help="Check the upstream's TLS certificate (default: on).",
            ),
            click.option(
                "--timeout", "timeout_ms", type=int, metavar="MS", help="Connection timeout (default 5000)."
            ),
            click.option("--active/--inactive", default=None, help="Whether pulls use it (default: active)."),
        )
    ):
        func = decorator(func)
    return func


@click.group()
def proxy() -> None:
    """Manage the upstream registries of a repository, in priority order."""


@proxy.command("list")
@click.argument("repository")
@api_command
def proxy_list(api: Api, repository: str) -> None:
    """List the proxies of REPOSITORY in priority order (1 is asked first)."""
    data = api.client.get(path("repositories", repository, "proxies"))
    api.emit(data, show.proxies)


@proxy.command("add")
@click.argument("repository")
@click.argument("name")
@click.argument("url")
@_proxy_options
@click.option("--position", type=int, help="Priority to insert at (default: last); the others shift.")
@api_command
def proxy_add(
    api: Api,
    repository: str,
    name: str,
    url: str,
    username: str | None,
    ssl_validation: bool | None,
    timeout_ms: int | None,
    active: bool | None,
    password_stdin: bool,
    password_prompt: bool,
    position: int | None,
) -> None:
    """Add proxy NAME for the upstream registry at URL to REPOSITORY."""
    body = {"name": name, "url": url} | _changes(
        username=username,
        password=_password(password_stdin, password_prompt),
        ssl_validation=ssl_validation,
        connection_timeout_ms=timeout_ms,
        active=active,
        position=position,
    )
    data = api.client.post(path("repositories", repository, "proxies"), body)
    api.emit(data, lambda out, d: show.proxy(out, d or {}, "Added"))


@proxy.command("edit")
@click.argument("repository")
@click.argument("name")
@click.option("--name", "new_name", metavar="NEW_NAME", help="Rename the proxy.")
@click.option("--url", help="The upstream registry's URL.")
@_proxy_options
@click.option("--clear-password", is_flag=True, help="Remove the stored password.")
@api_command
def proxy_edit(
    api: Api,
    repository: str,
    name: str,
    new_name: str | None,
    url: str | None,
    username: str | None,
    ssl_validation: bool | None,
    timeout_ms: int | None,
    active: bool | None,
    password_stdin: bool,
    password_prompt: bool,
    clear_password: bool,
) -> None:
    """Change proxy NAME of REPOSITORY; what is not given stays as it is (the password too)."""
    body = _changes(
        name=new_name,
        url=url,
        username=username,
        password=_password(password_stdin, password_prompt, clear_password),
        ssl_validation=ssl_validation,
        connection_timeout_ms=timeout_ms,
        active=active,
        clear_password=True if clear_password else None,
    )
    if not body:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    data = api.client.patch(path("repositories", repository, "proxies", name), body)
    api.emit(data, lambda out, d: show.proxy(out, d or {}, "Updated"))


@proxy.command("move")
@click.argument("repository")
@click.argument("name")
@click.argument("position", type=int)
@api_command
def proxy_move(api: Api, repository: str, name: str, position: int) -> None:
    """Move proxy NAME of REPOSITORY to POSITION (1 = asked first); the others shift."""
    data = api.client.post(path("repositories", repository, "proxies", name, "move"), {"position": position})
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Moved proxy [bold]{show.text(name)}[/] to position {position}.")
        show.proxies(api.out, data or [])


def _set_active(api: Api, repository: str, name: str, active: bool) -> None:
    action = "activate" if active else "deactivate"
    data = api.client.post(path("repositories", repository, "proxies", name, action))
    api.emit(data, lambda out, d: show.proxy(out, d or {}, "Enabled" if active else "Disabled"))


@proxy.command("enable")
@click.argument("repository")
@click.argument("name")
@api_command
def proxy_enable(api: Api, repository: str, name: str) -> None:
    """Let pulls of REPOSITORY use proxy NAME again."""
    _set_active(api, repository, name, True)


@proxy.command("disable")
@click.argument("repository")
@click.argument("name")
@api_command
def proxy_disable(api: Api, repository: str, name: str) -> None:
    """Stop asking proxy NAME for REPOSITORY's pulls (its cached content stays)."""
    _set_active(api, repository, name, False)


@proxy.command("remove")
@click.argument("repository")
@click.argument("name")
@api_command
def proxy_remove(api: Api, repository: str, name: str) -> None:
    """Remove proxy NAME from REPOSITORY; the proxies after it move up."""
    data = api.client.delete(path("repositories", repository, "proxies", name))
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Removed proxy [bold]{show.text(name)}[/] from repository {show.text(repository)}.")


@proxy.command("test")
@click.argument("repository")
@click.argument("name")
@click.option("--image", metavar="IMAGE[:TAG]", help="Also look this image up (e.g. library/alpine:latest).")
@api_command
def proxy_test(api: Api, repository: str, name: str, image: str | None) -> None:
    """Check proxy NAME of REPOSITORY: connect, TLS, auth, ping (and an image); exit 1 if a step fails."""
    data = api.client.post(path("repositories", repository, "proxies", name, "test"), _changes(image=image))
    result = data if isinstance(data, dict) else {}
    if api.json:
        show.print_json(data)
    else:
        show.probe(api.out, repository, name, result)
    if not result.get("ok"):
        failed = next((s for s in result.get("steps") or [] if not s.get("ok")), None)
        step = f" at step {failed.get('name')}: {failed.get('detail')}" if failed else ""
        raise CommandError(f"proxy {name} failed the test{step}")
