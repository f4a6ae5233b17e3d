"""Web UI actions on the proxies of a repository: add (and test before saving), edit, remove, move up or
down or to a dropped position, activate/deactivate, and test a saved proxy step by step.

Every change is a plain form POST answered with a redirect back to the repository page (POST-redirect-GET),
so each works without JavaScript; ``static/app.js`` only makes some of them smoother. A password is never
put back into a page: the add form shown again (after an error or a test) asks for it again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cargohold.api.ui import forms
from cargohold.api.ui.access import principal
from cargohold.api.ui.common import render, repo_url, services
from cargohold.api.ui.session import Flash, see_other
from cargohold.errors import (
    ManagedByConfigError,
    PreconditionFailedError,
    ProxyUnknownError,
    RepositoryExistsError,
    ValidationFailedError,
)
from cargohold.registry.repositories import ProxyView, RepositoryView

PROXY_FIELDS = (
    "name",
    "url",
    "username",
    "ssl_validation",
    "connection_timeout_ms",
    "answer_timeout_ms",
    "active",
    "position",
    "image",
    "include",
    "exclude",
    "etag",
)
NEW_PROXY_DEFAULTS = {
    "ssl_validation": "on",
    "active": "on",
    "connection_timeout_ms": "5000",
    "answer_timeout_ms": "5000",
}


def _anchor(repository: str, proxy: str) -> str:
    return f"{repo_url(repository)}#proxy-{proxy}"


def _writable(repository: RepositoryView) -> None:
    if repository.managed_by_config:
        raise ManagedByConfigError(f"repository {repository.name} is managed by the configuration file")


def _find(repository: RepositoryView, name: str) -> ProxyView:
    for proxy in repository.proxies:
        if proxy.name == name:
            return proxy
    raise ProxyUnknownError(f"repository {repository.name} has no proxy {name}")


def _proxy_form(
    request: web.Request,
    repository: RepositoryView,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    proxy: ProxyView | None = None,
    probe: Any = None,
    password_dropped: bool = False,
    conflict: bool = False,
    status: int = 200,
) -> web.Response:
    context = {
        "conflict": conflict,
        "repo": repository,
        "proxy": proxy,
        "values": values,
        "errors": errors,
        "probe": probe,
        "password_dropped": password_dropped,
        "tab": "overview",
        "nav": "repositories",
    }
    return render(request, "proxy_form.html", context, status=status)


def _typed(form: forms.FormData) -> dict[str, str]:
    values = forms.form_values(form, *PROXY_FIELDS)
    for box in ("ssl_validation", "active", "clear_password"):
        values[box] = "on" if forms.ticked(form, box) else ""
    return values


async def new_proxy(request: web.Request) -> web.Response:
    repository = await services(request).repositories.get(request.match_info["repo"])
    _writable(repository)
    values = {**NEW_PROXY_DEFAULTS, "position": str(len(repository.proxies) + 1)}
    return _proxy_form(request, repository, values, {})


async def add_proxy(request: web.Request) -> web.Response:
    """Save a new proxy, or (``intent=test``) try the typed settings without saving them."""
    found = services(request)
    repository = await found.repositories.get(request.match_info["repo"])
    _writable(repository)
    form = await request.post()
    settings, errors = forms.proxy_settings(form)
    place = forms.position(form, errors)
    values = _typed(form)
    typed_password = bool(form.get("password"))
    if settings is None or errors:
        return _proxy_form(
            request, repository, values, errors.messages, password_dropped=typed_password, status=422
        )
    if forms.text(form, "intent") == "test":
        trusted = principal(request).is_admin
        probe = await found.probe.test_settings(settings, forms.text(form, "image") or None, trusted=trusted)
        return _proxy_form(request, repository, values, {}, probe=probe, password_dropped=typed_password)
    try:
        added = await found.repositories.add_proxy(
            repository.name, settings, place, trusted=principal(request).is_admin
        )
    except ValidationFailedError as error:
        field_errors = {error.field: forms.sentence(error.reason)}
        return _proxy_form(
            request, repository, values, field_errors, password_dropped=typed_password, status=422
        )
    except RepositoryExistsError:
        field_errors = {"name": "This repository already has a proxy with this name."}
        return _proxy_form(
            request, repository, values, field_errors, password_dropped=typed_password, status=409
        )
    flash = Flash("success", f"Proxy {added.name} added at priority {added.priority}.")
    return see_other(_anchor(repository.name, added.name), flash)


def _edit_values(proxy: ProxyView) -> dict[str, str]:
    return {
        "name": proxy.name,
        "url": proxy.url,
        "username": proxy.username or "",
        "ssl_validation": "on" if proxy.ssl_validation else "",
        "connection_timeout_ms": str(proxy.connection_timeout_ms),
        "answer_timeout_ms": str(proxy.answer_timeout_ms),
        "active": "on" if proxy.active else "",
        "include": " ".join(proxy.include),
        "exclude": " ".join(proxy.exclude),
        "etag": proxy.etag,
    }


async def edit_proxy(request: web.Request) -> web.Response:
    repository = await services(request).repositories.get(request.match_info["repo"])
    _writable(repository)
    proxy = _find(repository, request.match_info["proxy"])
    return _proxy_form(request, repository, _edit_values(proxy), {}, proxy=proxy)


async def update_proxy(request: web.Request) -> web.Response:
    admin = services(request).repositories
    repository = await admin.get(request.match_info["repo"])
    _writable(repository)
    proxy = _find(repository, request.match_info["proxy"])
    form = await request.post()
    changes, errors = forms.proxy_changes(form, proxy)
    values = _typed(form)
    if changes is None:
        return _proxy_form(request, repository, values, errors.messages, proxy=proxy, status=422)
    try:
        saved = await admin.update_proxy(
            repository.name, proxy.name, changes, _if_match(form), trusted=principal(request).is_admin
        )
    except PreconditionFailedError:
        return await _changed_meanwhile(request, repository.name, proxy.name)
    except ValidationFailedError as error:
        field_errors = {error.field: forms.sentence(error.reason)}
        return _proxy_form(request, repository, values, field_errors, proxy=proxy, status=422)
    except RepositoryExistsError:
        field_errors = {"name": "This repository already has a proxy with this name."}
        return _proxy_form(request, repository, values, field_errors, proxy=proxy, status=409)
    return see_other(_anchor(repository.name, saved.name), Flash("success", f"Proxy {saved.name} saved."))


async def _changed_meanwhile(request: web.Request, repository: str, proxy: str) -> web.Response:
    """The edit form again, with the proxy as it is now and a note that nothing was saved (412)."""
    current = await services(request).repositories.get(repository)
    found = next((p for p in current.proxies if p.name == proxy), None)
    if found is None:  # removed meanwhile
        return see_other(repo_url(repository), Flash("error", f"Proxy {proxy} was removed meanwhile."))
    return _proxy_form(request, current, _edit_values(found), {}, proxy=found, conflict=True, status=412)


def _if_match(form: forms.FormData) -> str | None:
    """The version the page showed (its ``etag`` field), for the change's If-Match."""
    return forms.text(form, "etag") or None


_LIST_CHANGED = "The proxies changed since this page was loaded, so nothing was changed. Here they are now."


async def remove_proxy(request: web.Request) -> web.Response:
    repository, proxy = request.match_info["repo"], request.match_info["proxy"]
    form = await request.post()
    try:
        await services(request).repositories.remove_proxy(repository, proxy, _if_match(form))
    except PreconditionFailedError:
        return await _changed_meanwhile(request, repository, proxy)
    return see_other(repo_url(repository), Flash("success", f"Proxy {proxy} removed."))


async def move_proxy(request: web.Request) -> web.Response:
    """Move to the ``position`` field (the up/down buttons send their neighbour's place; drag and drop
    sends where the proxy was dropped)."""
    repository, proxy = request.match_info["repo"], request.match_info["proxy"]
    form = await request.post()
    errors = forms.FieldErrors()
    place = forms.position(form, errors)
    if place is None:
        return see_other(
            _anchor(repository, proxy), Flash("error", "Choose a position to move the proxy to.")
        )
    try:
        await services(request).repositories.move_proxy(repository, proxy, place, _if_match(form))
    except PreconditionFailedError:
        return see_other(repo_url(repository), Flash("error", _LIST_CHANGED))
    except ValidationFailedError as error:
        return see_other(_anchor(repository, proxy), Flash("error", forms.sentence(error.reason)))
    flash = Flash("success", f"Proxy {proxy} moved to priority {place}.")
    return see_other(_anchor(repository, proxy), flash)


async def set_active(request: web.Request) -> web.Response:
    repository, proxy = request.match_info["repo"], request.match_info["proxy"]
    form = await request.post()
    active = forms.text(form, "active") == "true"
    try:
        await services(request).repositories.set_active(repository, proxy, active, _if_match(form))
    except PreconditionFailedError:
        return see_other(repo_url(repository), Flash("error", _LIST_CHANGED))
    state = "activated" if active else "deactivated: it is skipped when pulling"
    return see_other(_anchor(repository, proxy), Flash("success", f"Proxy {proxy} {state}."))


async def test_proxy(request: web.Request) -> web.Response:
    """Run the connection test of a saved proxy and show each step (``static/app.js`` shows it inline)."""
    found = services(request)
    repository = await found.repositories.get(request.match_info["repo"])
    proxy = _find(repository, request.match_info["proxy"])
    form = await request.post()
    image = forms.text(form, "image") or None
    probe = await found.probe.test(repository.name, proxy.name, image)
    context = {
        "repo": repository,
        "proxy": proxy,
        "probe": probe,
        "image": image or "",
        "nav": "repositories",
    }
    return render(request, "probe.html", context)
