"""The web UI's users screen, for global admins only: list users, create one, and on a user's page set or
take away the admin role, grant or revoke a permission per repository, set a new password, delete the user.

Passwords are write-only: a form shown again after an error never carries the typed password back. An admin
may not take away their own admin role or delete themselves here (someone must be left to sign in and manage
users); another admin can. Every change is a POST-redirect-GET with a notice.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from cargohold.api.ui import forms
from cargohold.api.ui.access import principal
from cargohold.api.ui.common import PREFIX, render, services
from cargohold.api.ui.session import Flash, see_other
from cargohold.auth.principal import Permission
from cargohold.auth.users import MIN_PASSWORD_LENGTH, UserAdmin, UserView
from cargohold.errors import (
    RepositoryExistsError,
    UserUnknownError,
    ValidationFailedError,
)

PERMISSION_CHOICES = (
    (Permission.READ.value, "Read — pull"),
    (Permission.WRITE.value, "Write — pull, push and delete"),
    (Permission.ADMIN.value, "Admin — also manage the repository"),
)


def user_url(name: str, *rest: str) -> str:
    return f"{PREFIX}/users/" + "/".join(quote(part, safe="") for part in (name, *rest))


def _users(request: web.Request) -> UserAdmin:
    return services(request).users


async def _find(request: web.Request, name: str) -> UserView:
    view = await _users(request).get(name)
    if view is None:
        raise UserUnknownError(f"no user {name}")
    return view


def _list_page(
    request: web.Request,
    users: list[UserView],
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> web.Response:
    context = {
        "title": "Users",
        "users": users,
        "values": values,
        "errors": errors,
        "nav": "users",
        "user_url": user_url,
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return render(request, "users.html", context, status=status)


async def users_page(request: web.Request) -> web.Response:
    return _list_page(request, await _users(request).list(), {}, {})


async def create_user(request: web.Request) -> web.Response:
    users = _users(request)
    form = await request.post()
    name = forms.text(form, "name")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    is_admin = forms.ticked(form, "is_admin")
    values = {"name": name, "is_admin": "on" if is_admin else ""}
    errors = forms.FieldErrors()
    if not name:
        errors.add("name", "Enter a user name.")
    if not password:
        errors.add("password", "Enter a password.")
    if errors:
        return _list_page(request, await users.list(), values, errors.messages, 422)
    try:
        created = await users.create(name, password, is_admin)
    except ValidationFailedError as error:
        field = error.field if error.field in ("name", "password") else "name"
        return _list_page(request, await users.list(), values, {field: forms.sentence(error.reason)}, 422)
    except RepositoryExistsError:
        taken = {"name": "A user with this name already exists."}
        return _list_page(request, await users.list(), values, taken, 409)
    flash = Flash("success", f"User {created.name} created. Grant them permissions on repositories below.")
    return see_other(user_url(created.name), flash)


async def _user_page(
    request: web.Request, view: UserView, errors: dict[str, str], status: int = 200
) -> web.Response:
    repositories = await services(request).repositories.list()
    context = {
        "title": f"User {view.name}",
        "person": view,
        "is_self": view.name == principal(request).name,
        "grants": sorted(view.grants.items()),
        "repositories": [repo.name for repo in repositories if repo.name not in view.grants],
        "permission_choices": PERMISSION_CHOICES,
        "errors": errors,
        "nav": "users",
        "user_url": user_url,
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return render(request, "user.html", context, status=status)


async def user_page(request: web.Request) -> web.Response:
    return await _user_page(request, await _find(request, request.match_info["user"]), {})


async def set_admin(request: web.Request) -> web.Response:
    view = await _find(request, request.match_info["user"])
    form = await request.post()
    make_admin = forms.text(form, "is_admin") == "true"
    if not make_admin and view.name == principal(request).name:
        return see_other(user_url(view.name), Flash("error", "You cannot take away your own admin role."))
    await _users(request).set_admin(view.name, make_admin)
    text = f"{view.name} is an administrator now." if make_admin else f"{view.name} is no administrator now."
    return see_other(user_url(view.name), Flash("success", text))


async def set_grant(request: web.Request) -> web.Response:
    view = await _find(request, request.match_info["user"])
    form = await request.post()
    repository = forms.text(form, "repository")
    choice = forms.text(form, "permission")
    if not repository:
        return await _user_page(request, view, {"repository": "Choose a repository."}, 422)
    permission: Permission | None
    if choice == "none":
        permission = None
    else:
        try:
            permission = Permission(choice)
        except ValueError:
            return await _user_page(request, view, {"permission": "Choose read, write or admin."}, 422)
    try:
        await _users(request).grant(view.name, repository, permission)
    except ValidationFailedError as error:
        return await _user_page(request, view, {"repository": forms.sentence(error.reason)}, 422)
    if permission is None:
        text = f"{view.name} has no permission on {repository} now."
    else:
        text = f"{view.name} has the {permission.value} permission on {repository} now."
    return see_other(user_url(view.name) + "#grants", Flash("success", text))


async def set_password(request: web.Request) -> web.Response:
    view = await _find(request, request.match_info["user"])
    form = await request.post()
    password = form.get("password")
    if not isinstance(password, str) or not password:
        return await _user_page(request, view, {"password": "Enter the new password."}, 422)
    try:
        await _users(request).set_password(view.name, password)
    except ValidationFailedError as error:
        return await _user_page(request, view, {"password": forms.sentence(error.reason)}, 422)
    return see_other(user_url(view.name), Flash("success", f"The password of {view.name} was changed."))


async def delete_user(request: web.Request) -> web.Response:
    view = await _find(request, request.match_info["user"])
    if view.name == principal(request).name:
        return see_other(user_url(view.name), Flash("error", "You cannot delete your own account."))
    form = await request.post()
    if forms.text(form, "confirm") != view.name:
        return await _user_page(request, view, {"confirm": f"Type {view.name} to confirm."}, 422)
    await _users(request).delete(view.name)
    return see_other(
        f"{PREFIX}/users", Flash("success", f"User {view.name} deleted with their access tokens.")
    )
