"""The JSON bodies of the users, grants, access tokens and ``/me`` operations of /api/v1 as pydantic v2
models (docs/access.md): requests are strict and refuse unknown fields (as in ``schemas``), passwords are
write-only (``SecretStr``, never in a response model), and an access token's secret appears in one model
only, ``CreatedToken``, the answer of the request that created it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from pydantic import AwareDatetime, Field, SecretStr, StringConstraints

from cargohold.api.management.schemas import _Request, _Response
from cargohold.auth.passwords import MAX_PASSWORD_LENGTH
from cargohold.auth.principal import Permission
from cargohold.auth.users import MIN_PASSWORD_LENGTH

USER_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
TOKEN_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # noqa: S105 - a grammar, not a secret

UserName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=USER_NAME_PATTERN)]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TOKEN_NAME_PATTERN)]
UserPassword = Annotated[
    SecretStr,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"write-only: never returned; {MIN_PASSWORD_LENGTH} or more characters, not the name",
    ),
]


# --- requests -------------------------------------------------------------------------------------------


class UserCreate(_Request):
    """A new user; ``is_admin`` makes a global admin (every repository, users, grants)."""

    name: UserName
    password: UserPassword
    is_admin: bool = False


class UserUpdate(_Request):
    """Changes to a user; an absent (or null) field stays as it is. Users may change their own password;
    only a global admin changes ``is_admin``."""

    password: UserPassword | None = None
    is_admin: bool | None = None


class GrantRequest(_Request):
    """The permission a user holds on a repository (it replaces any held before)."""

    permission: Permission = Field(description="read (pull), write (push, delete) or admin (manage)")


class TokenCreate(_Request):
    """A new personal access token of the user; without ``expires_at`` it is valid until revoked."""

    name: TokenName = Field(description="unique among the user's tokens")
    expires_at: AwareDatetime | None = Field(
        default=None, description="RFC 3339 date-time with a time zone, in the future"
    )


# --- responses ------------------------------------------------------------------------------------------


class User(_Response):
    name: str
    is_admin: bool
    created_at: datetime | None
    grants: dict[str, Permission] = Field(description="repository name -> permission")


class Me(_Response):
    """Who the credentials of the request are."""

    name: str
    is_admin: bool
    grants: dict[str, Permission] = Field(description="repository name -> permission")


class Token(_Response):
    """An access token as it may be shown again: never its secret."""

    name: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked: bool
    last_used_at: datetime | None


class CreatedToken(Token):
    """The answer to creating an access token: the only time its secret is shown."""

    secret: str = Field(
        description="cgh_…: use it as a password (Basic) or as Authorization: Bearer; shown only once"
    )
