"""Who may do what: the one place the permission rules live (docs/access.md).

- ``pull``: anyone on a public repository; a ``read`` grant on a private one.
- ``push`` and ``delete``: a ``write`` grant. ``manage``: an ``admin`` grant.
- A global admin may do everything, including creating repositories and managing users.
- A registry JWT principal (``token_scopes`` set) may do only what its scopes name (plus pulling public
  repositories, which anyone may); it never manages anything.
Pure functions of a principal and a repository; nothing here reads the database.
"""

from __future__ import annotations

from typing import Final

from cargohold.auth.principal import Action, Permission, Principal
from cargohold.models import Repository, Visibility

_NEEDED: Final = {
    Action.PULL: Permission.READ,
    Action.PUSH: Permission.WRITE,
    Action.DELETE: Permission.WRITE,
    Action.MANAGE: Permission.ADMIN,
}


def allowed(principal: Principal, repository: Repository, action: Action, *, name: str | None = None) -> bool:
    """True when ``principal`` may do ``action`` on ``repository``.

    ``name`` is the /v2 name as the client wrote it (``hub/library/nginx``, or ``library/nginx`` for the
    default repository); it matters only for a registry JWT principal, whose scopes hold such names. Without
    it, a JWT scope on any image of the repository (``<repository>/…``) counts, which grants exactly as much
    since permissions are per repository.
    """
    if action is Action.PULL and repository.visibility is Visibility.PUBLIC:
        return True
    if principal.token_scopes is not None:
        return action is not Action.MANAGE and _in_scopes(principal.token_scopes, repository, action, name)
    if principal.anonymous:
        return False
    if principal.is_admin:
        return True
    held = principal.permission(repository.name)
    return held is not None and held.includes(_NEEDED[action])


def _in_scopes(
    scopes: frozenset[tuple[str, str]], repository: Repository, action: Action, name: str | None
) -> bool:
    if name is not None and (name, action.value) in scopes:
        return True
    prefix = f"{repository.name}/"
    return any(scope_action == action.value and full.startswith(prefix) for full, scope_action in scopes)


def may_create_repositories(principal: Principal) -> bool:
    """Only a global admin (signed in with a password or access token) creates repositories."""
    return principal.is_admin and principal.token_scopes is None and not principal.anonymous


def may_manage_users(principal: Principal) -> bool:
    """Only a global admin manages users, their grants and other users' tokens."""
    return principal.is_admin and principal.token_scopes is None and not principal.anonymous
