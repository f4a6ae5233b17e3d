"""The ``cargohold`` command line (DESIGN.md section 5, "Commands").

Owns the Click group ``cli`` and the commands that need no server: ``serve`` (load the settings, hand them to
``cargohold.app.serve``) and ``config check`` (validate a file and summarise it with Rich). Commands that talk
to a running server (repo, proxy, user, token, warm, gc) live in their own modules and are registered on
``cli`` with ``cli.add_command``. A configuration problem is reported as ``cargohold: <message>`` on stderr,
never as a traceback, and no command prints a password.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape

from cargohold import cli_auth, cli_management, cli_proxy
from cargohold.config import Settings, load_settings, redact_url
from cargohold.errors import ConfigError

EXIT_CONFIG_INVALID = 1  # `config check` found problems
EXIT_USAGE = 2  # a command could not start: bad flags or configuration


def _version() -> str:
    try:
        return version("cargohold")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"cargohold: {message}", err=True)
    raise SystemExit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="cargohold")
def cli() -> None:
    """cargohold: a self-hosted OCI/Docker registry with priority-ordered pull-through proxies."""


@cli.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML config file (default: $CARGOHOLD_CONFIG, else built-in defaults).",
)
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default 127.0.0.1:5000).")
@click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Where blobs and SQLite live."
)
@click.option("--workers", type=int, help="Number of worker processes (default 1).")
def serve(config_file: Path | None, listen: str | None, data_dir: Path | None, workers: int | None) -> None:
    """Run the registry. Precedence: flag > CARGOHOLD_* environment > config file > default."""
    try:
        settings = load_settings(config_file, listen=listen, data_dir=data_dir, workers=workers)
    except ConfigError as exc:
        _fail(exc.message, EXIT_USAGE)
    from cargohold.app import serve as run_server  # type: ignore[import-not-found,unused-ignore]

    try:
        run_server(settings)
    except ConfigError as exc:
        _fail(exc.message, EXIT_USAGE)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


@cli.group()
def config() -> None:
    """Inspect configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE (with the CARGOHOLD_* environment applied) and summarise it."""
    try:
        settings = load_settings(file)
    except ConfigError as exc:
        _fail(exc.message, EXIT_CONFIG_INVALID)
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"{escape(str(file))}: [bold green]OK[/]")
    print_summary(console, settings)


def print_summary(console: Console, settings: Settings) -> None:
    """Server settings, then each repository with its proxies in priority order; passwords as set/not set."""
    for key, value in (
        ("listen", settings.listen),
        ("public_url", settings.public_url),
        ("data_dir", str(settings.data_dir)),
        ("database", redact_url(settings.database)),
        ("workers", str(settings.workers)),
        ("log_level", settings.log_level),
    ):
        console.print(f"  [dim]{key:<11}[/] {escape(value)}")
    console.print(f"[bold]repositories[/] ({len(settings.repositories)})")
    for repo in settings.repositories:
        traits = [repo.visibility.value]
        if repo.default:
            traits.append("default")
        traits.append("hosts " + (", ".join(repo.hosts) if repo.hosts else "none"))
        traits.append(f"tag_ttl_seconds {repo.tag_ttl_seconds}")
        console.print(f"  [bold cyan]{escape(repo.name)}[/]  {escape(', '.join(traits))}")
        if not repo.proxies:
            console.print("    (no proxies: local content only)")
        for priority, proxy in enumerate(repo.proxies, start=1):
            password = "set" if proxy.password is not None else "not set"
            user = f"username {proxy.username}" if proxy.username else "no username"
            state = "active" if proxy.active else "[yellow]inactive[/]"
            console.print(
                f"    {priority}. [bold]{escape(proxy.name)}[/]  {escape(proxy.url)}  "
                f"ssl_validation {'on' if proxy.ssl_validation else '[yellow]off[/]'}  "
                f"timeout {proxy.connection_timeout_ms} ms  {state}  {escape(user)}  password {password}"
            )


cli.add_command(cli_management.repo)
cli.add_command(cli_proxy.proxy)
cli_auth.register(cli)


def main() -> None:
    """The ``cargohold`` console script."""
    cli(prog_name="cargohold")
