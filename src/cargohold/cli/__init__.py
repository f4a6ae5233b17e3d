"""The ``cargohold`` command line (README.md): the Click group ``cli`` and ``main``,
the console script.

One module per command group, each registered here (in ``COMMANDS``, imported when it runs):

- ``serve``         run the registry (``cargohold.cli.serve``)
- ``config check``  validate a config file and summarise it (``cargohold.cli.config_check``)
- ``repo …``        repositories of a running server (``cargohold.cli.repo``)
- ``proxy …``       a repository's upstream registries (``cargohold.cli.proxy``)
- ``login``, ``logout``  sign this machine in to a server (``cargohold.cli.login``)
- ``user …``        accounts, admin role and permissions (``cargohold.cli.user``)
- ``token …``       personal access tokens (``cargohold.cli.token``)
- ``gc``            garbage collection now, or a dry run (``cargohold.cli.gc``)
- ``storage migrate``  copy a filesystem blob store into S3 (``cargohold.cli.storage``)

The commands that talk to a running server share ``cargohold.cli.command`` (``--server``, ``--json``, the
error report), ``cargohold.cli.client`` (the HTTP client and the stored logins) and ``cargohold.cli.output``
(Rich tables). A problem is reported as ``cargohold: <message>`` on stderr, never as a traceback, and no
command prints a password.
"""

from __future__ import annotations

import importlib
from typing import Final, cast

import click

COMMANDS: Final = {
    "config": ("cargohold.cli.config_check", "config", "Inspect configuration files."),
    "fsck": (
        "cargohold.cli.fsck",
        "fsck",
        "Verify every stored blob against its digest and the metadata; --repair what is damaged.",
    ),
    "gc": ("cargohold.cli.gc", "gc", "Remove unreferenced blobs, abandoned uploads and orphan spools now."),
    "login": (
        "cargohold.cli.login",
        "login",
        "Sign in to a server: create an access token for this machine.",
    ),
    "logout": (
        "cargohold.cli.login",
        "logout",
        "Revoke this machine's access token on the server and forget it.",
    ),
    "proxy": (
        "cargohold.cli.proxy",
        "proxy",
        "Manage the upstream registries of a repository, in priority order.",
    ),
    "repo": (
        "cargohold.cli.repo",
        "repo",
        "Manage repositories: settings, images, cached content and statistics.",
    ),
    "serve": ("cargohold.cli.serve", "serve", "Run the registry."),
    "storage": (
        "cargohold.cli.storage",
        "storage",
        "Copy a filesystem blob store into S3 (storage migrate).",
    ),
    "token": (
        "cargohold.cli.token",
        "token",
        "Manage personal access tokens (usable wherever a password is).",
    ),
    "warm": ("cargohold.cli.warm", "warm", "Fetch images into a repository's cache ahead of time."),
    "user": (
        "cargohold.cli.user",
        "user",
        "Manage users, their admin role and their per-repository permissions.",
    ),
}
"""Each command: its module, the Click object in it, and the line ``cargohold --help`` shows for it. A
command's module is imported only when that command runs (or its own help is asked for), so ``--help`` and
each command load only what they use."""


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in sorted(COMMANDS)])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", "-V", package_name="cargohold", prog_name="cargohold")
def cli() -> None:
    """cargohold: a self-hosted OCI/Docker registry with priority-ordered pull-through proxies."""


def main() -> None:
    """The ``cargohold`` console script."""
    cast(click.Group, cli).main(prog_name="cargohold")
