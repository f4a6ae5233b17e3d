"""``cargohold config check FILE``: validate a config file and summarise it with Rich.

Owns the Click group ``config`` and its ``check`` command. The file is read as ``cargohold serve`` would read
it (with the ``CARGOHOLD_*`` environment applied); problems go to stderr as ``cargohold: <message>`` (one
``<dotted.path>: <reason>`` line each) with exit status 1. The summary shows the server settings (the
database URL without its password), then each repository with its proxies in priority order, and says only
whether a proxy's password is set, never the password. A repository's warnings (a public repository whose
proxy has credentials: ``cargohold.registry.warnings``) are printed under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from cargohold.cli.command import exit_with
from cargohold.config import Settings, builtin_repositories, load_settings, redact_url
from cargohold.config.repositories import as_entities
from cargohold.errors import ConfigError
from cargohold.registry.warnings import repository_warnings

if TYPE_CHECKING:  # the settings (pydantic) load only when a command reads them: --help stays fast
    from cargohold.config import Settings

EXIT_CONFIG_INVALID = 1  # `config check` found problems


@click.group()
def config() -> None:
    """Inspect configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE (with the CARGOHOLD_* environment applied) and summarise it."""

    try:
        settings = load_settings(file)
    except ConfigError as exc:
        exit_with(exc.message, EXIT_CONFIG_INVALID)
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"{escape(str(file))}: [bold green]OK[/]")
    print_summary(console, settings)


def _tls(settings: Settings) -> str:
    tls = settings.tls
    if tls.self_signed:
        return f"self-signed, kept in {settings.data_dir / 'tls'}"
    if tls.certificate is not None:
        return f"certificate {tls.certificate}, key {tls.key}"
    return "off"


def _storage(settings: Settings) -> str:
    """The blob store in one line; keys only as set / not set."""
    s3 = settings.storage.s3
    if settings.storage.driver != "s3" or s3 is None:
        return "filesystem (under data_dir)"
    where = s3.endpoint_url or f"AWS S3 {s3.region}"
    keys = "keys set" if s3.access_key_id is not None else "keys from the AWS chain"
    if s3.credentials_file is not None:
        keys = f"keys from {s3.credentials_file}"
    redirect = ", redirects to presigned URLs" if settings.storage.redirect else ""
    return f"s3 bucket {s3.bucket} at {where}, prefix {s3.prefix or '(none)'}, {keys}{redirect}"


def print_summary(console: Console, settings: Settings) -> None:
    """Server settings, then each repository with its proxies in priority order; passwords as set/not set."""

    for key, value in (
        ("listen", settings.listen),
        ("public_url", settings.public_url),
        ("data_dir", str(settings.data_dir)),
        ("database", redact_url(settings.database)),
        ("workers", str(settings.workers)),
        ("log_level", settings.log_level),
        ("tls", _tls(settings)),
        ("trusted_proxies", ", ".join(map(str, settings.trusted_proxies)) or "none"),
        ("log_format", settings.log_format),
        ("metrics", "public" if settings.metrics.public else "token" if settings.metrics.token else "users"),
        ("storage", _storage(settings)),
    ):
        console.print(f"  [dim]{key:<11}[/] {escape(value)}")
    if builtin_repositories(settings):
        console.print(
            "[bold]repositories[/] (none declared: a first start creates hub, a proxy of Docker Hub)"
        )
    else:
        console.print(f"[bold]repositories[/] ({len(settings.repositories)})")
    for repo in settings.repositories:
        traits = [repo.visibility.value]
        if repo.default:
            traits.append("default")
        traits.append("hosts " + (", ".join(repo.hosts) if repo.hosts else "none"))
        traits.append(f"tag_ttl_seconds {repo.tag_ttl_seconds}")
        if repo.max_cached_bytes:
            traits.append(f"max_cached_bytes {repo.max_cached_bytes.human_readable(separator=' ')}")
        if repo.evict_unused_after_days:
            traits.append(f"evict_unused_after_days {repo.evict_unused_after_days}")
        if repo.pins:
            traits.append("pins " + ", ".join(repo.pins))
        console.print(f"  [bold cyan]{escape(repo.name)}[/]  {escape(', '.join(traits))}")
        for warning in repository_warnings(*as_entities(repo)):
            console.print(f"    [bold yellow]warning:[/] {escape(warning)}")
        if not repo.proxies:
            console.print("    (no proxies: local content only)")
        for priority, proxy in enumerate(repo.proxies, start=1):
            password = "set" if proxy.password is not None else "not set"
            user = f"username {proxy.username}" if proxy.username else "no username"
            state = "active" if proxy.active else "[yellow]inactive[/]"
            console.print(
                f"    {priority}. [bold]{escape(proxy.name)}[/]  {escape(proxy.url)}  "
                f"ssl_validation {'on' if proxy.ssl_validation else '[yellow]off[/]'}  "
                f"timeout {proxy.connection_timeout_ms} ms  answer {proxy.answer_timeout_ms} ms  {state}  "
                f"{escape(user)}  password {password}"
            )
