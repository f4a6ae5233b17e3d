"""Who is asking: the ``Principal`` an authenticated (or anonymous) request acts as, and the vocabulary of
what a principal may hold (``Permission`` grants on repositories) and ask for (``Action``).

A principal is a plain value: the authenticator builds it from a password, an access token or a registry
JWT, and ``cargohold.auth.policy`` decides what it may do. Nothing here touches storage or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Permission(StrEnum):
    """A grant on one repository; each level includes the ones before it (admin ⊃ write ⊃ read)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Permission) -> bool:
        """True when holding ``self`` gives ``other`` too (``ADMIN.includes(READ)``)."""
        return self.rank >= other.rank


_RANKS: Final = {Permission.READ: 1, Permission.WRITE: 2, Permission.ADMIN: 3}


class Action(StrEnum):
    """What a request does to a repository: ``pull`` (read content), ``push`` and ``delete`` (change
    content), ``manage`` (settings, proxies, content views, purge)."""

    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    MANAGE = "manage"


_NO_GRANTS: Final[Mapping[str, Permission]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity a request acts as.

    ``name`` is None for an anonymous caller. ``grants`` maps repository names to the permission held
    there. ``token_scopes`` is set only for a caller that presented a registry JWT: the ``(full name,
    action)`` pairs the token grants (full name as the client addressed it, ``<repository>/<image>``);
    such a principal may do only what its scopes say (and what anyone may do).
    """

    name: str | None
    is_admin: bool = False
    grants: Mapping[str, Permission] = field(default_factory=lambda: _NO_GRANTS, hash=False)
    token_scopes: frozenset[tuple[str, str]] | None = None

    @property
    def anonymous(self) -> bool:
        return self.name is None

    def permission(self, repository: str) -> Permission | None:
        """The permission granted on ``repository`` (by name), or None."""
        return self.grants.get(repository)


ANONYMOUS: Final = Principal(name=None)
"""The caller that presented no credentials."""
