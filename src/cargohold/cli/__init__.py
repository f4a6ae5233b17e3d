"""The ``cargohold`` command line (README.md): the Click group ``cli`` and ``main``,
the console script.

One module per command group, each registered here:

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

from importlib.metadata import PackageNotFoundError, version

import click

from cargohold.cli import config_check, gc, login, proxy, repo, serve, storage, token, user


def _version() -> str:
    try:
        return version("cargohold")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="cargohold")
def cli() -> None:
    """cargohold: a self-hosted OCI/Docker registry with priority-ordered pull-through proxies."""


for _command in (
    serve.serve,
    config_check.config,
    repo.repo,
    proxy.proxy,
    login.login,
    login.logout,
    user.user,
    token.token,
    gc.gc,
    storage.storage,
):
    cli.add_command(_command)


def main() -> None:
    """The ``cargohold`` console script."""
    cli(prog_name="cargohold")
