"""Handlers of the users, grants, access tokens and ``/me`` operations (docs/access.md): request models in,
``UserAdmin`` calls, its views out.

Who may call each one is the route table's ``Access`` rule; what is left here are the rules that depend on
the body: only a global admin changes ``is_admin``, and nobody deletes or demotes the user they are signed in
as (so an administrator cannot lock the last administrator out by accident). A password goes from the
request model straight into ``UserAdmin``; a token's secret comes back in the answer of its creation only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from cargohold.api.management.errors import ApiError
from cargohold.api.management.operation import Call, Reply
from cargohold.api.management.user_schemas import GrantRequest, TokenCreate, UserCreate, UserUpdate
from cargohold.auth.policy import may_manage_users
from cargohold.auth.users import TokenView, UserView
from cargohold.errors import DeniedError, UserUnknownError

API = "/api/v1/users"


async def _user(call: Call, name: str) -> UserView:
    user = await call.users.get(name)
    if user is None:
        raise UserUnknownError(f"no user {name!r}")
    return user


async def list_users(call: Call) -> list[UserView]:
    return await call.users.list()


async def create_user(call: Call) -> Reply:
    body = call.body_as(UserCreate)
    view = await call.users.create(body.name, body.password.get_secret_value(), body.is_admin)
    return Reply(view, {"Location": f"{API}/{quote(view.name, safe='')}"})


async def get_user(call: Call) -> UserView:
    return await _user(call, call.param("user"))


async def update_user(call: Call) -> UserView:
    body = call.body_as(UserUpdate)
    name = call.param("user")
    if body.is_admin is not None:
        if not may_manage_users(call.principal):
            raise DeniedError("only an administrator may change is_admin")
        if name == call.principal.name and not body.is_admin:
            raise ApiError(409, "you cannot take the admin role from the user you are signed in as")
    await _user(call, name)  # 404 before any change
    if body.password is not None:
        await call.users.set_password(name, body.password.get_secret_value())
    if body.is_admin is not None:
        return await call.users.set_admin(name, body.is_admin)
    return await _user(call, name)


async def delete_user(call: Call) -> None:
    name = call.param("user")
    if name == call.principal.name:
        raise ApiError(409, "you cannot delete the user you are signed in as")
    await call.users.delete(name)


async def grant(call: Call) -> UserView:
    permission = call.body_as(GrantRequest).permission
    repository = call.param("repo")
    await call.services.repositories.get(repository)  # 404 for a repository that does not exist
    return await call.users.grant(call.param("user"), repository, permission)


async def revoke_grant(call: Call) -> None:
    await call.users.grant(call.param("user"), call.param("repo"), None)


async def list_tokens(call: Call) -> list[TokenView]:
    return await call.users.list_tokens(call.param("user"))


async def create_token(call: Call) -> dict[str, Any]:
    body = call.body_as(TokenCreate)
    created = await call.users.create_token(call.param("user"), body.name, body.expires_at)
    return {**asdict(created.view), "secret": created.secret}


async def revoke_token(call: Call) -> None:
    await call.users.revoke_token(call.param("user"), call.param("token"))


async def me(call: Call) -> dict[str, Any]:
    principal = call.principal
    return {"name": principal.name, "is_admin": principal.is_admin, "grants": dict(principal.grants)}
