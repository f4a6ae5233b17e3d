"""Web UI pages for repositories: the list, creating one, its overview (proxies and statistics), editing
its settings and deleting it. Proxy actions are in ``proxies``; images and tags in ``content``."""

from __future__ import annotations

from aiohttp import web

from cargohold.api.ui import forms
from cargohold.api.ui.access import may, may_create, principal
from cargohold.api.ui.common import PREFIX, render, repo_url, services
from cargohold.api.ui.session import Flash, see_other
from cargohold.auth.principal import Action
from cargohold.errors import PreconditionFailedError, RepositoryExistsError, ValidationFailedError
from cargohold.registry.repositories import RepositoryView

REPOSITORY_FIELDS = (
    "name",
    "visibility",
    "default",
    "hosts",
    "tag_ttl_seconds",
    "max_cached_bytes",
    "evict_unused_after_days",
    "pins",
)


async def repository_list(request: web.Request) -> web.Response:
    """The repositories the user may pull from (each marked whether they may manage it), with the bytes
    each holds and its cache hit rate."""
    found = services(request)
    listed = await found.repositories.list()
    visible = [repository for repository in listed if may(request, repository, Action.PULL)]
    storage = await found.storage.by_name() if found.storage is not None else {}
    hits: dict[str, tuple[int, int]] = {}
    for repository in visible:
        stats = await found.stats.repository(repository.name)
        hits[repository.name] = (stats.cache_hits, stats.cache_hits + stats.cache_misses)
    context = {
        "repositories": visible,
        "storage": storage,
        "hits": hits,
        "may_create": may_create(request),
        "nav": "repositories",
    }
    return render(request, "repositories.html", context)


def _new_form(
    request: web.Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    context = {"values": values, "errors": errors, "nav": "repositories"}
    return render(request, "repository_new.html", context, status=status)


async def new_repository(request: web.Request) -> web.Response:
    values = {"visibility": "public", "tag_ttl_seconds": "300"}
    return _new_form(request, values, {})


async def create_repository(request: web.Request) -> web.Response:
    form = await request.post()
    settings, errors = forms.repository_settings(form)
    values = forms.form_values(form, *REPOSITORY_FIELDS)
    values["default"] = "on" if forms.ticked(form, "default") else ""
    if settings is None:
        return _new_form(request, values, errors.messages, 422)
    try:
        created = await services(request).repositories.create(settings, trusted=principal(request).is_admin)
    except ValidationFailedError as error:
        return _new_form(request, values, {error.field: forms.sentence(error.reason)}, 422)
    except RepositoryExistsError:
        return _new_form(request, values, {"name": "A repository with this name already exists."}, 409)
    flash = Flash("success", f"Repository {created.name} created. Add a proxy to pull through it.")
    return see_other(repo_url(created.name), flash)


async def repository_page(request: web.Request) -> web.Response:
    name = request.match_info["repo"]
    found = services(request)
    repository = await found.repositories.get(name)
    stats = await found.stats.repository(name)
    breakdown = await found.storage.repository(name) if found.storage is not None else None
    context = {
        "repo": repository,
        "stats": stats,
        "breakdown": breakdown,
        "proxy_stats": {entry.proxy: entry for entry in stats.proxies},
        "registry_host": request.host,
        "tab": "overview",
        "nav": "repositories",
    }
    return render(request, "repository.html", context)


def _settings_values(repository: RepositoryView) -> dict[str, str]:
    return {
        "visibility": repository.visibility.value,
        "default": "on" if repository.default else "",
        "hosts": ", ".join(repository.hosts),
        "tag_ttl_seconds": str(repository.tag_ttl_seconds),
        "max_cached_bytes": str(repository.max_cached_bytes or ""),
        "evict_unused_after_days": str(repository.evict_unused_after_days or ""),
        "pins": ", ".join(repository.pins),
    }


def _settings_page(
    request: web.Request,
    repository: RepositoryView,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    conflict: bool = False,
) -> web.Response:
    context = {
        "conflict": conflict,
        "repo": repository,
        "values": values,
        "errors": errors,
        "tab": "settings",
        "nav": "repositories",
    }
    return render(request, "repository_settings.html", context, status=status)


async def settings_page(request: web.Request) -> web.Response:
    repository = await services(request).repositories.get(request.match_info["repo"])
    return _settings_page(request, repository, _settings_values(repository), {})


async def update_settings(request: web.Request) -> web.Response:
    admin = services(request).repositories
    repository = await admin.get(request.match_info["repo"])
    form = await request.post()
    changes, errors = forms.repository_changes(form)
    values = forms.form_values(form, *REPOSITORY_FIELDS)
    values["default"] = "on" if forms.ticked(form, "default") else ""
    values["etag"] = forms.text(form, "etag")  # the version the form was read at, kept across errors
    if changes is None:
        return _settings_page(request, repository, values, errors.messages, 422)
    try:
        await admin.update(repository.name, changes, forms.text(form, "etag") or None)
    except PreconditionFailedError:
        current = await admin.get(repository.name)
        return _settings_page(request, current, _settings_values(current), {}, 412, conflict=True)
    except ValidationFailedError as error:
        return _settings_page(request, repository, values, {error.field: forms.sentence(error.reason)}, 422)
    return see_other(repo_url(repository.name, "settings"), Flash("success", "Settings saved."))


async def delete_repository(request: web.Request) -> web.Response:
    admin = services(request).repositories
    repository = await admin.get(request.match_info["repo"])
    form = await request.post()
    if forms.text(form, "confirm") != repository.name:
        errors = {"confirm": f"Type {repository.name} to confirm."}
        return _settings_page(request, repository, _settings_values(repository), errors, 422)
    try:
        await admin.delete(repository.name, forms.text(form, "etag") or None)
    except PreconditionFailedError:
        current = await admin.get(repository.name)
        return _settings_page(request, current, _settings_values(current), {}, 412, conflict=True)
    return see_other(
        f"{PREFIX}/", Flash("success", f"Repository {repository.name} deleted with its content.")
    )
