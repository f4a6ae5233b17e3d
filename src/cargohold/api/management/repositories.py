"""Handlers of the repository and proxy operations: request models in, service calls, service views out.

Passwords travel from the request models (``SecretStr``) straight into the service's settings; nothing
here logs or returns them.
"""

from __future__ import annotations

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
    return [view for view in views if may_manage(call.principal, view.name, view.visibility)]


async def create_repository(call: Call) -> Reply:
    body = call.body_as(RepositoryCreate)
    view = await call.services.repositories.create(body, body.proxies, trusted=call.principal.is_admin)
    return Reply(view, {"Location": f"{API}/{quote(view.name, safe='')}"})


async def get_repository(call: Call) -> RepositoryView:
    return await call.services.repositories.get(call.param("repo"))


async def update_repository(call: Call) -> RepositoryView:
    changes = RepositoryChanges(**given(call.body_as(RepositoryUpdate)))
    return await call.services.repositories.update(call.param("repo"), changes)


async def delete_repository(call: Call) -> None:
    await call.services.repositories.delete(call.param("repo"))


# --- proxies --------------------------------------------------------------------------------------------


async def list_proxies(call: Call) -> tuple[ProxyView, ...]:
    return (await call.services.repositories.get(call.param("repo"))).proxies


async def add_proxy(call: Call) -> Reply:
    body = call.body_as(ProxyCreate)
    repository = call.param("repo")
    view = await call.services.repositories.add_proxy(
        repository, body, body.position, trusted=call.principal.is_admin
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
    return await call.services.repositories.update_proxy(
        call.param("repo"), call.param("proxy"), changes, trusted=call.principal.is_admin
    )


async def remove_proxy(call: Call) -> None:
    await call.services.repositories.remove_proxy(call.param("repo"), call.param("proxy"))


async def move_proxy(call: Call) -> list[ProxyView]:
    position = call.body_as(Move).position
    return await call.services.repositories.move_proxy(call.param("repo"), call.param("proxy"), position)


async def activate_proxy(call: Call) -> ProxyView:
    return await call.services.repositories.set_active(call.param("repo"), call.param("proxy"), True)


async def deactivate_proxy(call: Call) -> ProxyView:
    return await call.services.repositories.set_active(call.param("repo"), call.param("proxy"), False)


async def test_proxy(call: Call) -> ProbeResult:
    image = call.body_as(ProbeRequest).image
    return await call.services.probe.test(call.param("repo"), call.param("proxy"), image)


async def test_unsaved_proxy(call: Call) -> ProbeResult:
    body = call.body_as(ProxyProbeRequest)
    await call.services.repositories.get(call.param("repo"))  # 404 for an unknown repository
    return await call.services.probe.test_settings(
        ProxySettings.of(body), body.image, trusted=call.principal.is_admin
    )
