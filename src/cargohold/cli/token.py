"""``cargohold token …``: personal access tokens, usable wherever a password is.

Owns the Click group ``token`` (create, list, revoke), built on ``cargohold.cli.command.api_command``. The
commands manage the caller's own tokens (the server says whose they are, ``/api/v1/me``), or with ``--user``
someone else's (admins only). A token secret is printed exactly once, alone on stdout, by ``token create``
(its notice goes to stderr, so ``TOKEN=$(cargohold token create ci)`` captures only the secret); no other
command prints one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cargohold.cli import output as show
from cargohold.cli.client import CommandError, path
from cargohold.cli.command import Api, api_command, created_secret


def _whoami(api: Api) -> dict[str, Any]:
    me = api.client.get(path("me"))
    if not isinstance(me, dict) or not isinstance(me.get("name"), str) or not me["name"]:
        raise CommandError(
            "this server does not say who the credentials belong to: sign in with cargohold login"
        )
    return me


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
    secret = created_secret(data)
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
