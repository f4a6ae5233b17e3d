"""The permission rules of docs/access.md: who may pull, push, delete and manage which repository."""

from __future__ import annotations

import pytest

from cargohold.auth.policy import allowed, may_create_repositories, may_manage_users
from cargohold.auth.principal import ANONYMOUS, Action, Permission, Principal
from cargohold.models import Repository, Visibility

PUBLIC = Repository(name="hub", visibility=Visibility.PUBLIC)
PRIVATE = Repository(name="secret", visibility=Visibility.PRIVATE)
ADMIN = Principal(name="root", is_admin=True)


def user(**grants: Permission) -> Principal:
    return Principal(name="alice", grants=grants)


def test_permission_levels_include_the_lower_ones() -> None:
    assert Permission.ADMIN.includes(Permission.WRITE)
    assert Permission.ADMIN.includes(Permission.READ)
    assert Permission.WRITE.includes(Permission.READ)
    assert not Permission.READ.includes(Permission.WRITE)
    assert not Permission.WRITE.includes(Permission.ADMIN)


def test_anonymous_is_the_nameless_principal() -> None:
    assert ANONYMOUS.anonymous
    assert not ANONYMOUS.is_admin
    assert not Principal(name="alice").anonymous


def test_anyone_pulls_a_public_repository_and_nobody_anonymous_does_more() -> None:
    assert allowed(ANONYMOUS, PUBLIC, Action.PULL)
    for action in (Action.PUSH, Action.DELETE, Action.MANAGE):
        assert not allowed(ANONYMOUS, PUBLIC, action)
    assert allowed(user(), PUBLIC, Action.PULL)
    assert not allowed(user(), PUBLIC, Action.PUSH)


def test_private_repository_needs_a_grant_even_to_pull() -> None:
    for action in Action:
        assert not allowed(ANONYMOUS, PRIVATE, action)
        assert not allowed(user(), PRIVATE, action)
        assert not allowed(user(hub=Permission.ADMIN), PRIVATE, action)


@pytest.mark.parametrize(
    ("permission", "expected"),
    [
        (Permission.READ, {Action.PULL}),
        (Permission.WRITE, {Action.PULL, Action.PUSH, Action.DELETE}),
        (Permission.ADMIN, {Action.PULL, Action.PUSH, Action.DELETE, Action.MANAGE}),
    ],
)
def test_grants_give_their_actions_on_their_repository(permission: Permission, expected: set[Action]) -> None:
    principal = user(secret=permission)
    assert {action for action in Action if allowed(principal, PRIVATE, action)} == expected


def test_global_admin_may_do_everything() -> None:
    for action in Action:
        assert allowed(ADMIN, PRIVATE, action)
        assert allowed(ADMIN, PUBLIC, action)
    assert may_create_repositories(ADMIN)
    assert may_manage_users(ADMIN)


def test_only_global_admins_create_repositories_and_manage_users() -> None:
    for principal in (ANONYMOUS, user(secret=Permission.ADMIN, hub=Permission.ADMIN)):
        assert not may_create_repositories(principal)
        assert not may_manage_users(principal)


def test_registry_jwt_principal_has_only_its_scopes() -> None:
    jwt = Principal(
        name="alice",
        is_admin=True,
        grants={"secret": Permission.ADMIN},
        token_scopes=frozenset({("secret/app", "pull")}),
    )
    assert allowed(jwt, PRIVATE, Action.PULL, name="secret/app")
    assert allowed(jwt, PRIVATE, Action.PULL)
    assert not allowed(jwt, PRIVATE, Action.PUSH, name="secret/app")
    assert not allowed(jwt, PRIVATE, Action.MANAGE)
    assert not allowed(jwt, Repository(name="other", visibility=Visibility.PRIVATE), Action.PULL)
    assert not allowed(jwt, Repository(name="secretx", visibility=Visibility.PRIVATE), Action.PULL)
    assert allowed(jwt, PUBLIC, Action.PULL)
    assert not may_create_repositories(jwt)
    assert not may_manage_users(jwt)


def test_registry_jwt_scope_by_the_name_the_client_used() -> None:
    default_repo = Repository(name="hub", visibility=Visibility.PRIVATE, default=True)
    jwt = Principal(name="alice", token_scopes=frozenset({("library/nginx", "push")}))
    assert allowed(jwt, default_repo, Action.PUSH, name="library/nginx")
    assert not allowed(jwt, default_repo, Action.PUSH, name="library/redis")
    assert not allowed(jwt, default_repo, Action.PULL, name="library/nginx")


def test_anonymous_registry_jwt_gets_nothing_beyond_public_pulls() -> None:
    jwt = Principal(name=None, token_scopes=frozenset())
    assert allowed(jwt, PUBLIC, Action.PULL)
    assert not allowed(jwt, PUBLIC, Action.PUSH)
    assert not allowed(jwt, PRIVATE, Action.PULL)
