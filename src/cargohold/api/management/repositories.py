"""Handlers of the repository and proxy operations: request models in, service calls, service views out.

Passwords travel from the request models (``SecretStr``) straight into the service's settings; nothing
here logs or returns them.
"""

from __future__ import annotations

from urllib.parse import quote

from cargohold.api.management.access import may_manage
from cargohold.api.management.operation import Call, Reply
from cargohold.api.management.schemas import (
    Move,
    ProbeRequest,
    ProxyCreate,
    ProxyFields,
    ProxyProbeRequest,
    ProxyUpdate,
    RepositoryCreate,
    RepositoryUpdate,
)
from cargohold.errors import ProxyUnknownError
from cargohold.proxy.probe import ProbeResult
from cargohold.registry.repositories import (
    ProxyChanges,
    ProxySettings,
    ProxyView,
    RepositoryChanges,
    RepositorySettings,
    RepositoryView,
)

API = "/api/v1/repositories"


def proxy_settings(fields: ProxyFields) -> ProxySettings:
    return ProxySettings(
        name=fields.name,
        url=fields.url,
        username=fields.username,
        password=fields.password.get_secret_value() if fields.password is not None else None,
        ssl_validation=fields.ssl_validation,
        connection_timeout_ms=fields.connection_timeout_ms,
        active=fields.active,
    )


# --- repositories ---------------------------------------------------------------------------------------


async def list_repositories(call: Call) -> list[RepositoryView]:
    """The repositories the caller may manage (every one for a global admin)."""
    views = await call.services.repositories.list()
    return [view for view in views if may_manage(call.principal, view.name, view.visibility)]


async def create_repository(call: Call) -> Reply:
    body = call.body_as(RepositoryCreate)
    settings = RepositorySettings(
        name=body.name,
        visibility=body.visibility,
        default=body.default,
        hosts=tuple(body.hosts),
        tag_ttl_seconds=body.tag_ttl_seconds,
    )
    view = await call.services.repositories.create(settings, [proxy_settings(p) for p in body.proxies])
    return Reply(view, {"Location": f"{API}/{quote(view.name, safe='')}"})


async def get_repository(call: Call) -> RepositoryView:
    return await call.services.repositories.get(call.param("repo"))


async def update_repository(call: Call) -> RepositoryView:
    body = call.body_as(RepositoryUpdate)
    changes = RepositoryChanges(
        visibility=body.visibility,
        default=body.default,
        hosts=tuple(body.hosts) if body.hosts is not None else None,
        tag_ttl_seconds=body.tag_ttl_seconds,
    )
    return await call.services.repositories.update(call.param("repo"), changes)


async def delete_repository(call: Call) -> None:
    await call.services.repositories.delete(call.param("repo"))


# --- proxies --------------------------------------------------------------------------------------------


async def list_proxies(call: Call) -> tuple[ProxyView, ...]:
    return (await call.services.repositories.get(call.param("repo"))).proxies


async def add_proxy(call: Call) -> Reply:
    body = call.body_as(ProxyCreate)
    repository = call.param("repo")
    view = await call.services.repositories.add_proxy(repository, proxy_settings(body), body.position)
    location = f"{API}/{quote(repository, safe='')}/proxies/{quote(view.name, safe='')}"
    return Reply(view, {"Location": location})


async def get_proxy(call: Call) -> ProxyView:
    repository, name = call.param("repo"), call.param("proxy")
    for proxy in (await call.services.repositories.get(repository)).proxies:
        if proxy.name == name:
            return proxy
    raise ProxyUnknownError(f"repository {repository!r} has no proxy {name!r}")


async def update_proxy(call: Call) -> ProxyView:
    body = call.body_as(ProxyUpdate)
    changes = ProxyChanges(
        name=body.name,
        url=body.url,
        username=body.username,
        password=body.password.get_secret_value() if body.password is not None else None,
        ssl_validation=body.ssl_validation,
        connection_timeout_ms=body.connection_timeout_ms,
        active=body.active,
        clear_password=body.clear_password,
    )
    return await call.services.repositories.update_proxy(call.param("repo"), call.param("proxy"), changes)


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
    return await call.services.probe.test_settings(proxy_settings(body), body.image)
