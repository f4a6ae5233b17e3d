"""``cargohold proxy …``: the upstream registries of a repository, over the REST API.

Owns the Click group ``proxy`` (list, add, edit (or update), move, enable, disable, remove, test REPOSITORY …;
``--include``/``--exclude`` set a proxy's name rules), built on
``cargohold.cli.command.api_command`` (``--server``, ``--json``, exit statuses). A proxy password is read
from one line of stdin (``--password-stdin``) or a hidden prompt asked twice (``--password-prompt``), never
from argv; it goes only into the request body, and no command prints it (the API answers ``password_set``).
``proxy test`` prints each step with ✓/✗, its detail and time, and exits 1 when a step failed.
"""

from __future__ import annotations

import click

from cargohold.cli import output as show
from cargohold.cli.client import CommandError, path
from cargohold.cli.command import Api, Command, api_command, changes, if_match_option, read_password


def _password(from_stdin: bool, prompt: bool, clear: bool = False) -> str | None:
    """The password from one line of stdin or a hidden prompt (None: not given); never from argv."""
    if from_stdin + prompt + clear > 1:
        raise click.UsageError("give only one of --password-stdin, --password-prompt and --clear-password")
    if from_stdin or prompt:
        return read_password(from_stdin, confirm=True)
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
                "--timeout",
                "timeout_ms",
                type=int,
                metavar="MS",
                help="Connection timeout: how long connecting (TCP and TLS) may take (default 5000).",
            ),
            click.option(
                "--answer-timeout",
                "answer_timeout_ms",
                type=int,
                metavar="MS",
                help="Answer timeout: how long to wait for the response headers once a request is sent "
                "(default 5000); a body that stalls is bounded by upstream.read_timeout_seconds.",
            ),
            click.option("--active/--inactive", default=None, help="Whether pulls use it (default: active)."),
            click.option(
                "--include",
                "include",
                multiple=True,
                metavar="PATTERN",
                help="Ask it only for image names matching PATTERN (glob: * ? within a component, ** across; "
                "repeatable). On edit, replaces the list.",
            ),
            click.option(
                "--exclude",
                "exclude",
                multiple=True,
                metavar="PATTERN",
                help="Never ask it for names matching PATTERN (repeatable); on edit, replaces the list.",
            ),
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
    answer_timeout_ms: int | None,
    active: bool | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    password_stdin: bool,
    password_prompt: bool,
    position: int | None,
) -> None:
    """Add proxy NAME for the upstream registry at URL to REPOSITORY."""
    body = {"name": name, "url": url} | changes(
        username=username,
        password=_password(password_stdin, password_prompt),
        ssl_validation=ssl_validation,
        connection_timeout_ms=timeout_ms,
        answer_timeout_ms=answer_timeout_ms,
        active=active,
        position=position,
        include=list(include) or None,
        exclude=list(exclude) or None,
    )
    data = api.client.post(path("repositories", repository, "proxies"), body)
    api.emit(data, lambda out, d: show.proxy(out, d or {}, "Added"))
    repo = api.client.get(path("repositories", repository))
    show.warnings(show.console(stderr=True), repo if isinstance(repo, dict) else {})


@proxy.command("edit")
@click.argument("repository")
@click.argument("name")
@click.option("--name", "new_name", metavar="NEW_NAME", help="Rename the proxy.")
@click.option("--url", help="The upstream registry's URL.")
@_proxy_options
@click.option("--clear-password", is_flag=True, help="Remove the stored password.")
@click.option("--clear-rules", is_flag=True, help="Remove the name rules: the proxy is asked for every name.")
@if_match_option
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
    answer_timeout_ms: int | None,
    active: bool | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    password_stdin: bool,
    password_prompt: bool,
    clear_password: bool,
    clear_rules: bool,
    if_match: str | None,
) -> None:
    """Change proxy NAME of REPOSITORY; what is not given stays as it is (the password too)."""
    body = changes(
        name=new_name,
        url=url,
        username=username,
        password=_password(password_stdin, password_prompt, clear_password),
        ssl_validation=ssl_validation,
        connection_timeout_ms=timeout_ms,
        answer_timeout_ms=answer_timeout_ms,
        active=active,
        clear_password=True if clear_password else None,
        include=list(include) or ([] if clear_rules else None),
        exclude=list(exclude) or ([] if clear_rules else None),
    )
    if not body:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    data = api.client.patch(path("repositories", repository, "proxies", name), body, if_match=if_match)
    api.emit(data, lambda out, d: show.proxy(out, d or {}, "Updated"))


proxy.add_command(proxy_edit, "update")


@proxy.command("move")
@click.argument("repository")
@click.argument("name")
@click.argument("position", type=int)
@if_match_option
@api_command
def proxy_move(api: Api, repository: str, name: str, position: int, if_match: str | None) -> None:
    """Move proxy NAME of REPOSITORY to POSITION (1 = asked first); the others shift."""
    url = path("repositories", repository, "proxies", name, "move")
    data = api.client.post(url, {"position": position}, if_match=if_match)
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
@if_match_option
@api_command
def proxy_remove(api: Api, repository: str, name: str, if_match: str | None) -> None:
    """Remove proxy NAME from REPOSITORY; the proxies after it move up."""
    data = api.client.delete(path("repositories", repository, "proxies", name), if_match=if_match)
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Removed proxy [bold]{show.text(name)}[/] from repository {show.text(repository)}.")


@proxy.command("test")
@click.argument("repository")
@click.argument("name")
@click.option(
    "--image",
    metavar="IMAGE",
    help="Also look up IMAGE through it: NAME, NAME:TAG or NAME@DIGEST (the tag defaults to latest).",
)
@api_command
def proxy_test(api: Api, repository: str, name: str, image: str | None) -> None:
    """Check proxy NAME of REPOSITORY: connect, TLS, auth, ping (and an image); exit 1 if a step fails."""
    data = api.client.post(path("repositories", repository, "proxies", name, "test"), changes(image=image))
    result = data if isinstance(data, dict) else {}
    if api.json:
        show.print_json(data)
    else:
        show.probe(api.out, repository, name, result)
    if not result.get("ok"):
        failed = next((s for s in result.get("steps") or [] if not s.get("ok")), None)
        step = f" at step {failed.get('name')}: {failed.get('detail')}" if failed else ""
        raise CommandError(f"proxy {name} failed the test{step}")
