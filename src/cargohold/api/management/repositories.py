"""Handlers of the repository and proxy operations: request models in, service calls, service views out.

Passwords travel from the request models (``SecretStr``) straight into the service's settings; nothing
here logs or returns them.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, SecretStr

from cargohold.api.management.access import may_manage
from cargohold.api.management.operation import Call, Reply
from cargohold.api.management.schemas import (
    Move,
    ProbeRequest,
    ProxyCreate,
    ProxyProbeRequest,
    ProxyUpdate,
    RepositoryCreate,
    RepositoryUpdate,
)
from cargohold.errors import ProxyUnknownError
from cargohold.proxy.probe import ProbeResult
from cargohold.registry.repositories import ProxyChanges, ProxyView, RepositoryChanges, RepositoryView
from cargohold.registry.values import ProxySettings

API = "/api/v1/repositories"


def given(body: BaseModel) -> dict[str, Any]:
    """The fields of an update body that were given (not null), as the service's changes take them."""
    values: dict[str, Any] = {}
    for name in type(body).model_fields:
        value = getattr(body, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    return values


# --- repositories ---------------------------------------------------------------------------------------


async def list_repositories(call: Call) -> list[RepositoryView]:
    """The repositories the caller may manage (every one for a global admin)."""
    views = await call.services.repositories.list()
    visible = [view for view in views if may_manage(call.principal, view.name, view.visibility)]
    if call.services.storage is None or not visible:
        return visible
    storage = await call.services.storage.by_name()
    return [dataclasses.replace(view, storage=storage.get(view.name)) for view in visible]


async def create_repository(call: Call) -> Reply:
    body = call.body_as(RepositoryCreate)
    created = await call.services.repositories.create(body, body.proxies, trusted=call.principal.is_admin)
    view = await _with_storage(call, created)
    return Reply(view, {"Location": f"{API}/{quote(view.name, safe='')}"})


async def get_repository(call: Call) -> RepositoryView:
    return await _with_storage(call, await call.services.repositories.get(call.param("repo")))


async def _with_storage(call: Call, view: RepositoryView) -> RepositoryView:
    """The view with the bytes the repository holds (when this server keeps storage accounts)."""
    if call.services.storage is None:
        return view
    return dataclasses.replace(view, storage=await call.services.storage.usage(view.name))


async def update_repository(call: Call) -> RepositoryView:
    changes = RepositoryChanges(**given(call.body_as(RepositoryUpdate)))
    updated = await call.services.repositories.update(call.param("repo"), changes, call.if_match)
    return await _with_storage(call, updated)


async def delete_repository(call: Call) -> None:
    await call.services.repositories.delete(call.param("repo"), call.if_match)


# --- proxies --------------------------------------------------------------------------------------------


async def list_proxies(call: Call) -> Reply:
    """The proxies in priority order, with the ETag of their repository (what a reorder's If-Match takes)."""
    repository = await call.services.repositories.get(call.param("repo"))
    return Reply(repository.proxies, {"ETag": repository.etag})


async def add_proxy(call: Call) -> Reply:
    body = call.body_as(ProxyCreate)
    repository = call.param("repo")
    view = await call.services.repositories.add_proxy(
        repository, body, body.position, call.if_match, trusted=call.principal.is_admin
    )
    location = f"{API}/{quote(repository, safe='')}/proxies/{quote(view.name, safe='')}"
    return Reply(view, {"Location": location})


async def get_proxy(call: Call) -> ProxyView:
    repository, name = call.param("repo"), call.param("proxy")
    for proxy in (await call.services.repositories.get(repository)).proxies:
        if proxy.name == name:
            return proxy
    raise ProxyUnknownError(f"repository {repository!r} has no proxy {name!r}")


async def update_proxy(call: Call) -> ProxyView:
    changes = ProxyChanges(**given(call.body_as(ProxyUpdate)))
    admin, repository, proxy = call.services.repositories, call.param("repo"), call.param("proxy")
    return await admin.update_proxy(
        repository, proxy, changes, call.if_match, trusted=call.principal.is_admin
    )


async def remove_proxy(call: Call) -> None:
    await call.services.repositories.remove_proxy(call.param("repo"), call.param("proxy"), call.if_match)


async def move_proxy(call: Call) -> Reply:
    """The proxies in their new order, with the repository's new ETag."""
    position = call.body_as(Move).position
    admin, repository = call.services.repositories, call.param("repo")
    moved = await admin.move_proxy(repository, call.param("proxy"), position, call.if_match)
    return Reply(moved, {"ETag": (await admin.get(repository)).etag})


async def activate_proxy(call: Call) -> ProxyView:
    admin = call.services.repositories
    return await admin.set_active(call.param("repo"), call.param("proxy"), True, call.if_match)


async def deactivate_proxy(call: Call) -> ProxyView:
    admin = call.services.repositories
    return await admin.set_active(call.param("repo"), call.param("proxy"), False, call.if_match)


async def test_proxy(call: Call) -> ProbeResult:
    image = call.body_as(ProbeRequest).image
    return await call.services.probe.test(call.param("repo"), call.param("proxy"), image)


async def test_unsaved_proxy(call: Call) -> ProbeResult:
    body = call.body_as(ProxyProbeRequest)
    await call.services.repositories.get(call.param("repo"))  # 404 for an unknown repository
    return await call.services.probe.test_settings(
        ProxySettings.of(body), body.image, trusted=call.principal.is_admin
    )
