"""``cargohold user …``: the accounts of a server, their admin role and their per-repository permissions.

Owns the Click group ``user`` (list, add, remove, passwd, grant, admin), built on
``cargohold.cli.command.api_command``; only global admins may use it (the server decides). A password is read
from one line of stdin (``--password-stdin``) or a hidden prompt asked twice, never from argv, and is never
printed.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cargohold.cli import output as show
from cargohold.cli.client import path
from cargohold.cli.command import Api, api_command, read_password

PERMISSIONS = ("read", "write", "admin")


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
    password = read_password(password_stdin, confirm=True)
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
    password = read_password(password_stdin, confirm=True, prompt="New password")
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
