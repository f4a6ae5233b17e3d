"""``cargohold login``, ``logout``, ``user …`` and ``token …``: who may use a server, over its REST API.

Owns the commands of notes/auth.md, "CLI". ``login`` sends the user's password once (Basic) to create a
personal access token named ``cli-<hostname>`` and stores only that token for the server
(``cargohold.cli_http``, credentials file 0600); ``logout`` revokes it and forgets it. ``user add|list|remove|
passwd|grant|admin`` manage accounts (global admins only, the server decides). ``token create|list|revoke``
manage the caller's own access tokens (``--user`` for someone else's, admins only). A password is read from
one line of stdin (``--password-stdin``) or a hidden prompt, never from argv, and no command prints one; a
token secret is printed exactly once, alone on stdout, by ``token create`` (its notice goes to stderr, so
``TOKEN=$(cargohold token create ci)`` captures only the secret). ``register`` adds them to ``cargohold``.
"""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from cargohold import cli_output as show
from cargohold.cli_http import (
    ApiClient,
    CommandError,
    StoredLogin,
    forget_login,
    path,
    store_login,
    stored_login,
)
from cargohold.cli_management import EXIT_API_ERROR, Api, api_command, server_option

PERMISSIONS = ("read", "write", "admin")
_TOKEN_NAME_TRIES = 20


def _read_password(from_stdin: bool, *, confirm: bool, prompt: str = "Password") -> str:
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


def _whoami(api: Api) -> dict[str, Any]:
    me = api.client.get(path("me"))
    if not isinstance(me, dict) or not isinstance(me.get("name"), str) or not me["name"]:
        raise CommandError(
            "this server does not say who the credentials belong to: sign in with cargohold login"
        )
    return me


def _created_secret(data: Any) -> str:
    secret = data.get("secret") if isinstance(data, dict) else None
    if not isinstance(secret, str) or not secret:
        raise CommandError("the server created the token but sent no secret")
    return secret


# --------------------------------------------------------------------------------------------- login/logout


_server_option = server_option("The cargohold server.")


def _fail(error: CommandError) -> NoReturn:
    click.echo(f"cargohold: {error}", err=True)
    raise SystemExit(EXIT_API_ERROR)


def _create_login_token(client: ApiClient, username: str) -> tuple[str, str]:
    """Create ``cli-<hostname>`` (or ``-2``, ``-3``… when that name is taken); its name and secret."""
    base = "cli-" + (
        "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname().lower()) or "host"
    )
    for attempt in range(1, _TOKEN_NAME_TRIES + 1):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            created = client.post(path("users", username, "tokens"), {"name": name})
        except CommandError as error:
            if error.status == 409:
                continue
            raise
        return name, _created_secret(created)
    raise CommandError(
        f"user {username} already has tokens {base} to {base}-{_TOKEN_NAME_TRIES}: revoke some"
    )


def _revoke_quietly(server: str, login: StoredLogin) -> None:
    """Revoke a token being replaced or logged out of; a token that is already gone is fine."""
    if not login.username or not login.token_name:
        return
    client = ApiClient(server, login.token, stored=False)
    try:
        client.delete(path("users", login.username, "tokens", login.token_name))
    except CommandError as error:
        if error.status not in (401, 404):
            raise


@click.command()
@_server_option
@click.option("--username", "-u", metavar="USER", help="Your user name (asked when not given).")
@click.option("--password-stdin", is_flag=True, help="Read the password (or an access token) from stdin.")
def login(server: str, username: str | None, password_stdin: bool) -> None:
    """Sign in to a server: create an access token for this machine and store it (never the password)."""
    if not username:
        username = str(click.prompt("Username", err=True)).strip()
    password = _read_password(password_stdin, confirm=False)
    try:
        client = ApiClient(server, basic=(username, password), stored=False)
        previous = stored_login(server)
        if previous is not None and previous.username == username:
            _revoke_quietly(server, previous)
        token_name, secret = _create_login_token(client, username)
        file = store_login(server, StoredLogin(username, token_name, secret))
    except CommandError as error:
        _fail(error)
    click.echo(f"Signed in to {server} as {username} (access token {token_name}, stored in {file}).")


@click.command()
@_server_option
def logout(server: str) -> None:
    """Revoke this machine's access token on the server and forget it."""
    try:
        login_ = stored_login(server)
        if login_ is None:
            click.echo(f"Not signed in to {server}.")
            return
        try:
            _revoke_quietly(server, login_)
        except CommandError as error:  # still forget it locally; say the token may be alive
            forget_login(server)
            click.echo(
                f"cargohold: signed out locally, but the token could not be revoked: {error}", err=True
            )
            raise SystemExit(EXIT_API_ERROR) from None
        forget_login(server)
    except CommandError as error:
        _fail(error)
    click.echo(f"Signed out of {server}.")


# ---------------------------------------------------------------------------------------------------- users


def _users_table(out: Console, users: Any) -> None:
    if not users:
        out.print("No users.")
        return
    table = Table(header_style="bold", show_edge=False, pad_edge=False)
    for column in ("name", "admin", "grants", "created"):
        table.add_column(column, overflow="fold")
    for user in users:
        grants = user.get("grants") or {}
        table.add_row(
            f"[bold]{show.text(user.get('name'))}[/]",
            "yes" if user.get("is_admin") else "",
            show.text(", ".join(f"{repo}: {perm}" for repo, perm in sorted(grants.items()))),
            show.when(user.get("created_at")),
        )
    out.print(table)


def _user_summary(out: Console, user: Any) -> None:
    _users_table(out, [user])


@click.group()
def user() -> None:
    """Manage users, their admin role and their per-repository permissions (admins only)."""


@user.command("list")
@api_command
def user_list(api: Api) -> None:
    """List the users with their role and grants."""
    api.emit(api.client.get(path("users")), _users_table)


@user.command("add")
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="May manage everything, users included.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@api_command
def user_add(api: Api, name: str, is_admin: bool, password_stdin: bool) -> None:
    """Create user NAME (the password is asked twice, or read from stdin)."""
    password = _read_password(password_stdin, confirm=True)
    data = api.client.post(path("users"), {"name": name, "password": password, "is_admin": is_admin})
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Created user [bold]{show.text(name)}[/]" + (" (admin)." if is_admin else "."))


@user.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@api_command
def user_remove(api: Api, name: str, yes: bool) -> None:
    """Delete user NAME with their access tokens and grants."""
    if not yes:
        click.confirm(f"Delete user {name!r} with their access tokens?", abort=True, err=True)
    api.client.delete(path("users", name))
    if not api.json:
        api.out.print(f"Deleted user [bold]{show.text(name)}[/].")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
@api_command
def user_passwd(api: Api, name: str, password_stdin: bool) -> None:
    """Set a new password for user NAME."""
    password = _read_password(password_stdin, confirm=True, prompt="New password")
    data = api.client.patch(path("users", name), {"password": password})
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Changed the password of [bold]{show.text(name)}[/].")


@user.command("grant")
@click.argument("name")
@click.argument("repository")
@click.argument("permission", type=click.Choice([*PERMISSIONS, "none"]))
@api_command
def user_grant(api: Api, name: str, repository: str, permission: str) -> None:
    """Give user NAME PERMISSION on REPOSITORY (read: pull; write: also push and delete; admin: also
    manage it), or take it away with "none"."""
    url = path("users", name, "grants", repository)
    data = api.client.delete(url) if permission == "none" else api.client.put(url, {"permission": permission})
    if api.json:
        show.print_json(data)
    elif permission == "none":
        api.out.print(f"User [bold]{show.text(name)}[/] has no permission on {show.text(repository)} now.")
    else:
        api.out.print(f"User [bold]{show.text(name)}[/] may {permission} {show.text(repository)}.")


@user.command("admin")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@api_command
def user_admin(api: Api, name: str, state: str) -> None:
    """Make user NAME an admin (on) or not (off)."""
    data = api.client.patch(path("users", name), {"is_admin": state == "on"})
    if api.json:
        show.print_json(data)
    else:
        role = "an admin" if state == "on" else "no admin"
        api.out.print(f"User [bold]{show.text(name)}[/] is {role} now.")


# --------------------------------------------------------------------------------------------------- tokens


def _tokens_table(out: Console, tokens: Any) -> None:
    if not tokens:
        out.print("No access tokens.")
        return
    table = Table(header_style="bold", show_edge=False, pad_edge=False)
    for column in ("name", "created", "expires", "last used", "state"):
        table.add_column(column, overflow="fold")
    now = datetime.now(UTC).isoformat()
    for token in tokens:
        expires = token.get("expires_at")
        if token.get("revoked"):
            state = "[yellow]revoked[/]"
        elif isinstance(expires, str) and expires and expires < now:
            state = "[yellow]expired[/]"
        else:
            state = "active"
        table.add_row(
            f"[bold]{show.text(token.get('name'))}[/]",
            show.when(token.get("created_at")),
            show.when(expires) if expires else "never",
            show.when(token.get("last_used_at")),
            state,
        )
    out.print(table)


@click.group()
def token() -> None:
    """Manage personal access tokens (usable wherever a password is: docker login, the API, the UI)."""


def _owner(api: Api, user_name: str | None) -> str:
    return user_name or str(_whoami(api)["name"])


@token.command("create")
@click.argument("name")
@click.option("--expires-in", "days", type=click.IntRange(1, 3650), metavar="DAYS", help="Expire after DAYS.")
@click.option("--user", "user_name", metavar="USER", help="Someone else's token (admins only).")
@api_command
def token_create(api: Api, name: str, days: int | None, user_name: str | None) -> None:
    """Create access token NAME and print its secret once (alone on stdout; the notice goes to stderr)."""
    owner = _owner(api, user_name)
    body: dict[str, Any] = {"name": name}
    if days is not None:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")
    data = api.client.post(path("users", owner, "tokens"), body)
    if api.json:
        show.print_json(data)
        return
    secret = _created_secret(data)
    click.echo(secret)
    expiry = f", expires {show.when(body['expires_at'])}" if days is not None else ", never expires"
    click.echo(
        f"Created access token {name} for {owner}{expiry}. Copy it now: it is not shown again.", err=True
    )


@token.command("list")
@click.option("--user", "user_name", metavar="USER", help="Someone else's tokens (admins only).")
@api_command
def token_list(api: Api, user_name: str | None) -> None:
    """List your access tokens (never their secrets)."""
    api.emit(api.client.get(path("users", _owner(api, user_name), "tokens")), _tokens_table)


@token.command("revoke")
@click.argument("name")
@click.option("--user", "user_name", metavar="USER", help="Someone else's token (admins only).")
@api_command
def token_revoke(api: Api, name: str, user_name: str | None) -> None:
    """Revoke access token NAME: it authenticates nobody from now on."""
    owner = _owner(api, user_name)
    data = api.client.delete(path("users", owner, "tokens", name))
    if api.json:
        show.print_json(data)
    else:
        api.out.print(f"Revoked access token [bold]{show.text(name)}[/] of {show.text(owner)}.")


def register(cli: click.Group) -> None:
    """Add ``login``, ``logout``, ``user`` and ``token`` to the ``cargohold`` group."""
    for command in (login, logout, user, token):
        cli.add_command(command)
