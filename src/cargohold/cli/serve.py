"""``cargohold serve``: load the settings and run the registry (``cargohold.app.serve``).

Precedence of the settings: flag > ``CARGOHOLD_*`` environment > config file > default
(``cargohold.config.load_settings``). A configuration problem exits with status 2 and
``cargohold: <message>`` on stderr, never a traceback; Ctrl-C exits with 130. ``cargohold.app`` and
``cargohold.config`` (pydantic) are imported only when the server starts, so the other commands (and
``--help``) do not load the server's dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from cargohold.errors import ConfigError

EXIT_USAGE = 2  # a command could not start: bad flags or configuration


def exit_with(message: str, code: int) -> NoReturn:
    """``cargohold: <message>`` on stderr, then exit (as ``cli.command.exit_with``, without loading Rich and
    the API client the server does not use)."""
    click.echo(f"cargohold: {message}", err=True)
    raise SystemExit(code)


@click.command()
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
@click.option(
    "--tls-certificate",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Serve HTTPS with this PEM certificate (a chain is fine); needs --tls-key.",
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), help="The certificate's PEM key.")
@click.option(
    "--tls-self-signed",
    is_flag=True,
    default=None,
    help="Serve HTTPS with a certificate generated once into <data-dir>/tls (trust its ca.crt).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS|CIDR",
    help="A reverse proxy whose X-Forwarded-*/Forwarded headers are believed (repeatable).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), help="Log lines as text (default) or JSON objects."
)
def serve(
    config_file: Path | None,
    listen: str | None,
    data_dir: Path | None,
    workers: int | None,
    tls_certificate: Path | None,
    tls_key: Path | None,
    tls_self_signed: bool | None,
    trusted_proxies: tuple[str, ...],
    log_format: str | None,
) -> None:
    """Run the registry. Precedence: flag > CARGOHOLD_* environment > config file > default."""
    from cargohold.config import load_settings

    tls = {
        key: value
        for key, value in (
            ("certificate", tls_certificate),
            ("key", tls_key),
            ("self_signed", tls_self_signed),
        )
        if value is not None
    }
    try:
        settings = load_settings(
            config_file,
            listen=listen,
            data_dir=data_dir,
            workers=workers,
            tls=tls or None,
            trusted_proxies=list(trusted_proxies) or None,
            log_format=log_format,
        )
    except ConfigError as exc:
        exit_with(exc.message, EXIT_USAGE)
    from cargohold.app import serve as run_server

    try:
        run_server(settings)
    except ConfigError as exc:
        exit_with(exc.message, EXIT_USAGE)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
