"""``cargohold login`` and ``cargohold logout``: signing this machine in to a server and out again.

Owns the commands of docs/access.md. ``login`` sends the user's password once (Basic) to create a
personal access token named ``cli-<hostname>`` (``-2``, ``-3``… when that name is taken) and stores only that
token for the server (``cargohold.cli.client``, credentials file 0600); signing in again as the same user
revokes the token it replaces. ``logout`` revokes the token and forgets it. The password is read from one
line of stdin (``--password-stdin``) or a hidden prompt, never from argv, and is never printed.
"""

from __future__ import annotations

import socket

import click

from cargohold.cli.client import (
    ApiClient,
    CommandError,
    StoredLogin,
    forget_login,
    path,
    store_login,
    stored_login,
)
from cargohold.cli.command import EXIT_API_ERROR, created_secret, fail, read_password, server_option

_TOKEN_NAME_TRIES = 20


_server_option = server_option("The cargohold server.")


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
        return name, created_secret(created)
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
    password = read_password(password_stdin, confirm=False)
    try:
        client = ApiClient(server, basic=(username, password), stored=False)
        previous = stored_login(server)
        if previous is not None and previous.username == username:
            _revoke_quietly(server, previous)
        token_name, secret = _create_login_token(client, username)
        file = store_login(server, StoredLogin(username, token_name, secret))
    except CommandError as error:
        fail(error)
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
        fail(error)
    click.echo(f"Signed out of {server}.")
