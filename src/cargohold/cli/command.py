"""What the commands share, above all those that manage a running server over its REST API.

Owns ``api_command`` (the ``--server`` and ``--json`` options, the ``Api`` a command gets, and the error
report), ``server_option`` (``--server`` alone, for ``login`` and ``logout``), ``exit_with`` (a problem as
``cargohold: <message>`` on stderr, never a traceback), and the small helpers several command modules use:
``changes`` (the options that were given), ``read_password`` and ``created_secret``. Every management command
talks to ``/api/v1`` over HTTP only (``cargohold.cli.client``; docs/architecture.md), on ``--server`` (default
``$CARGOHOLD_SERVER``, else http://127.0.0.1:5000) with ``$CARGOHOLD_TOKEN`` as a Bearer token when set, else
the token ``cargohold login`` stored. It prints Rich tables (``cargohold.cli.output``), or with ``--json``
exactly the API's JSON. Exit status: 0 on success, 1 on an API or connection error or a failed proxy test, 2
on a usage error. A password is read from one line of stdin or a hidden prompt, never from argv, and no
command prints one.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click
from rich.console import Console

from cargohold.cli import output as show
from cargohold.cli.client import DEFAULT_SERVER, ApiClient, CommandError, check_server_url, current_server

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
        default=lambda: current_server() or DEFAULT_SERVER,
        show_default=f"the server of the last cargohold login, else {DEFAULT_SERVER}",
        show_envvar=True,
        callback=_server_url,
        help=help_text,
    )


def exit_with(message: str, code: int) -> NoReturn:
    """``cargohold: <message>`` on stderr, then exit with ``code``: a problem, never a traceback."""
    click.echo(f"cargohold: {message}", err=True)
    raise SystemExit(code)


def fail(error: CommandError) -> NoReturn:
    """Report a failed API call as one line on stderr and exit with ``EXIT_API_ERROR``."""
    exit_with(str(error), EXIT_API_ERROR)


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
            fail(exc)

    return wrapper


def changes(**fields: Any) -> dict[str, Any]:
    """The fields that were given (None means "leave unchanged")."""
    return {key: value for key, value in fields.items() if value is not None}


def read_password(from_stdin: bool, *, confirm: bool, prompt: str = "Password") -> str:
    """One line of stdin, or a hidden prompt on the terminal (asked twice when setting a password)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: standard input has no password line")
        return password
    password = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not password:
        raise click.UsageError("the password is empty")
    return str(password)


def created_secret(data: Any) -> str:
    """The secret of the access token the API just created (it sends it in that one answer only)."""
    secret = data.get("secret") if isinstance(data, dict) else None
    if not isinstance(secret, str) or not secret:
        raise CommandError("the server created the token but sent no secret")
    return secret


def if_match_option(func: Command) -> Command:
    """``--if-match ETAG``: change only if the resource is still the version read (``repo show``)."""
    return click.option(
        "--if-match",
        "if_match",
        metavar="ETAG",
        help="Change only if it is still the version with this ETag (from `repo show`); else exit 1.",
    )(func)
