"""How the management commands show the API's answers to a person: Rich tables and short summaries.

Owns one renderer per kind of answer (repositories, a repository, proxies, images, statistics, a purge, a
proxy test), each taking the decoded JSON exactly as ``/api/v1`` sent it (docs/architecture.md)
and printing to a Rich ``Console``. Renderers read fields with ``.get`` so that an answer with a field more or
less still prints instead of failing. A proxy is shown with "password set yes/no", never a password: the API
never sends one, and nothing here would print it. ``--json`` output does not pass through this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

NONE = "-"
OK_MARK = "✓"
FAIL_MARK = "✗"

Json = Mapping[str, Any]


def console(*, stderr: bool = False) -> Console:
    """The console for human output: stdout (or stderr), no guessing of highlights in names and URLs."""
    return Console(highlight=False, stderr=stderr)


def print_json(data: Any) -> None:
    """The API's answer as JSON on stdout (nothing for an empty answer such as a 204)."""
    if data is not None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def text(value: Any) -> str:
    """A field as escaped Rich markup; ``-`` for null or missing."""
    if value is None or value == "":
        return NONE
    return escape(str(value))


def yes_no(value: Any) -> str:
    """``yes`` / ``no`` (``-`` when the field is missing)."""
    return NONE if value is None else ("yes" if value else "no")


def size(nbytes: Any) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    if not isinstance(nbytes, int | float):
        return NONE
    amount = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return NONE  # pragma: no cover - the loop always returns


def millis(value: Any) -> str:
    """Milliseconds: one decimal below 10 ms, whole numbers above."""
    if not isinstance(value, int | float):
        return NONE
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def when(value: Any) -> str:
    """An ISO 8601 timestamp to the second, ``T`` replaced by a space; ``-`` for never."""
    if not isinstance(value, str) or not value:
        return NONE
    return escape(value.replace("T", " ")[:19])


def short_digest(value: Any) -> str:
    """``sha256:`` and the first 12 hex digits (``--json`` has the whole digest)."""
    if not isinstance(value, str):
        return NONE
    algorithm, _, hex_part = value.partition(":")
    return escape(f"{algorithm}:{hex_part[:12]}" if hex_part else value)


def _table(title: str | None = None) -> Table:
    return Table(title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False)


def repositories(out: Console, repos: Sequence[Json]) -> None:
    """``repo list``: one row per repository."""
    if not repos:
        out.print("No repositories.")
        return
    table = _table()
    for column in ("name", "visibility", "default", "hosts", "tag ttl", "proxies", "managed by", "size"):
        table.add_column(column, overflow="fold", justify="right" if column == "size" else "left")
    for repo in repos:
        proxies = repo.get("proxies") or []
        active = sum(1 for proxy in proxies if proxy.get("active"))
        table.add_row(
            f"[bold]{text(repo.get('name'))}[/]",
            text(repo.get("visibility")),
            "yes" if repo.get("default") else "",
            text(", ".join(repo.get("hosts") or [])),
            f"{repo.get('tag_ttl_seconds', NONE)} s",
            f"{len(proxies)} ({active} active)" if proxies else "0",
            "config file" if repo.get("managed_by_config") else "api",
            size((repo.get("storage") or {}).get("total_bytes")),
        )
    out.print(table)


def repository(out: Console, repo: Json) -> None:
    """``repo show`` (and the answer to create/edit): its settings, then its proxies in priority order."""
    out.print(f"[bold cyan]{text(repo.get('name'))}[/]")
    fields = (
        ("visibility", text(repo.get("visibility"))),
        ("default", yes_no(repo.get("default"))),
        ("hosts", text(", ".join(repo.get("hosts") or []))),
        ("tag ttl", f"{repo.get('tag_ttl_seconds', NONE)} s"),
        ("managed by", "config file (read-only)" if repo.get("managed_by_config") else "api"),
        ("created", when(repo.get("created_at"))),
        *_policy(repo),
        *_storage(repo.get("storage")),
    )
    for key, value in fields:
        out.print(f"  [dim]{key:<11}[/] {value}")
    warnings(out, repo)
    proxies(out, repo.get("proxies") or [], title="proxies")


def _policy(repo: Json) -> list[tuple[str, str]]:
    quota = repo.get("max_cached_bytes") or 0
    days = repo.get("evict_unused_after_days") or 0
    return [
        ("cache quota", size(quota) if quota else "none"),
        ("evict after", f"{days} days unused" if days else "never (by age)"),
        ("pins", text(", ".join(repo.get("pins") or [])) or NONE),
    ]


def _storage(held: Json | None) -> list[tuple[str, str]]:
    if not held:
        return []
    return [
        (
            "storage",
            f"{size(held.get('total_bytes'))}: {size(held.get('local_bytes'))} local (pushed), "
            f"{size(held.get('cached_bytes'))} cached [dim](a blob several images share counts once)[/]",
        )
    ]


def storage_breakdown(out: Console, data: Json) -> None:
    """``repo storage``: bytes held, then the biggest and the least recently pulled images."""
    held = data.get("storage") or {}
    out.print(f"[bold cyan]{text(held.get('repository'))}[/]")
    for key, value in _storage(held):
        out.print(f"  [dim]{key:<11}[/] {value}")
    lists = (("biggest images", "biggest_images"), ("least recently pulled", "least_recently_pulled"))
    for title, key in lists:
        table = _table(title)
        for column in ("image", "size", "last pulled"):
            table.add_column(column, overflow="fold", justify="right" if column == "size" else "left")
        for image in data.get(key) or []:
            table.add_row(text(image.get("name")), size(image.get("size")), when(image.get("last_pulled_at")))
        out.print(table)


def warnings(out: Console, repo: Json) -> None:
    """A repository's ``warnings`` (a public repository whose proxy has credentials), one line each."""
    for warning in repo.get("warnings") or []:
        out.print(f"[bold yellow]warning:[/] {text(warning)}")


def proxies(out: Console, items: Sequence[Json], title: str | None = None) -> None:
    """``proxy list``: priority, name, url, user, password set, ssl validation, timeout, active, names."""
    if not items:
        out.print("No proxies: local content only.")
        return
    table = _table(title)
    table.add_column("#", justify="right")
    columns = ("name", "url", "user", "password", "ssl validation", "timeout", "answer", "active", "names")
    for column in columns:
        table.add_column(
            column, overflow="fold", justify="right" if column in ("timeout", "answer") else "left"
        )
    for proxy in items:
        table.add_row(*proxy_cells(proxy))
    out.print(table)


def proxy_cells(proxy: Json) -> list[str]:
    """One proxy as the cells of a ``proxy list`` row."""
    ssl_on = proxy.get("ssl_validation")
    return [
        text(proxy.get("priority")),
        f"[bold]{text(proxy.get('name'))}[/]",
        text(proxy.get("url")),
        text(proxy.get("username")),
        "set" if proxy.get("password_set") else "not set",
        "on" if ssl_on else ("[yellow]off[/]" if ssl_on is not None else NONE),
        f"{proxy.get('connection_timeout_ms', NONE)} ms",
        f"{proxy.get('answer_timeout_ms', NONE)} ms",
        "yes" if proxy.get("active") else "[yellow]no[/]",
        name_rules(proxy),
    ]


def name_rules(proxy: Json) -> str:
    """A proxy's name rules in one cell: ``all``, or ``company/** except company/old``."""
    include, exclude = proxy.get("include") or [], proxy.get("exclude") or []
    shown = text(", ".join(include)) if include else "all"
    if exclude:
        shown += f" except {text(', '.join(exclude))}"
    return shown


def proxy(out: Console, item: Json, verb: str) -> None:
    """A one-proxy answer (add, edit, enable, disable): what happened, then the proxy as a one-row table."""
    out.print(f"{verb} proxy [bold]{text(item.get('name'))}[/] (priority {text(item.get('priority'))}).")
    proxies(out, [item])


def images(out: Console, items: Sequence[Json]) -> None:
    """``repo images``: one row per tag (an image without tags still gets a row)."""
    if not items:
        out.print("No images.")
        return
    table = _table()
    for column in ("image", "tag", "digest", "size", "source", "proxy", "fetched", "last pulled"):
        table.add_column(column, overflow="fold", justify="right" if column == "size" else "left")
    for image in items:
        tags = image.get("tags") or []
        if not tags:
            table.add_row(
                f"[bold]{text(image.get('name'))}[/]", NONE, NONE, size(image.get("size")),
                text(image.get("source")), NONE, NONE, NONE,
            )  # fmt: skip
        for tag in tags:
            table.add_row(
                f"[bold]{text(image.get('name'))}[/]",
                text(tag.get("tag")),
                short_digest(tag.get("digest")),
                size(tag.get("size")),
                text(tag.get("source")),
                text(tag.get("proxy_name")),
                when(tag.get("fetched_at")),
                when(tag.get("last_pulled_at")),
            )
    out.print(table)


def purge(out: Console, repo: str, proxy_name: str | None, result: Json) -> None:
    """``repo purge``: how much cached content went."""
    scope = f"repository {escape(repo)}" + (f", proxy {escape(proxy_name)}" if proxy_name else "")
    out.print(
        f"Purged cached content of {scope}: {text(result.get('manifests'))} manifests, "
        f"{text(result.get('tags'))} tags, {text(result.get('blobs'))} blobs."
    )


def stats(out: Console, data: Json) -> None:
    """``repo stats``: the repository's counters, then one row per proxy with its health."""
    out.print(f"[bold cyan]{text(data.get('repository'))}[/]")
    requests = data.get("requests")
    hits = data.get("cache_hits")
    ratio = (
        f" ({100 * hits / requests:.0f}%)"
        if isinstance(hits, int) and isinstance(requests, int) and requests
        else ""
    )
    for key, value in (
        ("requests", text(requests)),
        ("cache hits", text(hits) + ratio),
        ("cache misses", text(data.get("cache_misses"))),
        ("from cache", size(data.get("bytes_served_from_cache"))),
        ("from upstream", size(data.get("bytes_fetched_upstream"))),
        ("stale served", text(data.get("stale_served"))),
    ):
        out.print(f"  [dim]{key:<14}[/] {value}")
    items = data.get("proxies") or []
    if not items:
        return
    table = _table("proxies")
    for column in ("proxy", "requests", "hits", "misses", "fetched", "failures", "health", "last failure"):
        numeric = column in ("requests", "hits", "misses", "fetched")
        table.add_column(column, overflow="fold", justify="right" if numeric else "left")
    for item in items:
        failures = item.get("failures") or {}
        backoff = item.get("backoff_seconds") or 0
        health = "[green]healthy[/]" if item.get("healthy") else "[red]unhealthy[/]"
        if backoff:
            health += f", backoff {backoff:.0f} s"
        table.add_row(
            f"[bold]{text(item.get('proxy'))}[/]",
            text(item.get("requests")),
            text(item.get("hits")),
            text(item.get("misses")),
            size(item.get("bytes_fetched")),
            text(", ".join(f"{kind} {count}" for kind, count in failures.items())),
            health,
            text(item.get("last_failure")),
        )
    out.print(table)


def probe(out: Console, repo: str, proxy_name: str, result: Json) -> None:
    """``proxy test``: each step with ✓/✗, its detail and its time, then the verdict."""
    out.print(f"Testing proxy [bold]{escape(proxy_name)}[/] of repository [bold]{escape(repo)}[/]")
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column()
    table.add_column(overflow="fold")
    table.add_column(justify="right")
    for step in result.get("steps") or []:
        mark = f"[green]{OK_MARK}[/]" if step.get("ok") else f"[red]{FAIL_MARK}[/]"
        table.add_row(mark, text(step.get("name")), text(step.get("detail")), millis(step.get("elapsed_ms")))
    out.print(table)
    total = millis(result.get("elapsed_ms"))
    if result.get("ok"):
        out.print(f"[green]{OK_MARK} all steps passed[/] in {total}")
    else:
        out.print(f"[red]{FAIL_MARK} test failed[/] after {total}")
