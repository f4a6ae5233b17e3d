"""Managing users, their grants and their personal access tokens (docs/access.md):
``UserAdmin`` checks every input, hashes passwords, mints token secrets and hands the rest to the
metadata store. Who may call what is the HTTP layer's business (``cargohold.auth.policy``).

Rules: a user name is ``[a-z0-9][a-z0-9._-]{0,63}``; a password has at least 12 characters (at most
1024) and is not the user name; a token name is 1 to 64 letters, digits and ``. _ -``. A token secret is
``cgh_`` + 43 url-safe characters (32 random bytes); only its sha256 is stored, and the secret is returned
once, by ``create_token``. Errors: ValidationFailedError naming the field, RepositoryExistsError for a name
taken, UserUnknownError for an unknown user or token, NameUnknownError for an unknown repository.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from cargohold.auth.passwords import MAX_PASSWORD_LENGTH, Passwords
from cargohold.auth.principal import Permission
from cargohold.errors import ConfigError, ValidationFailedError
from cargohold.metadata.base import UserStore
from cargohold.models import AccessTokenRecord, UserRecord

ADMIN_NAME: Final = "admin"
"""The user ``ensure_admin`` creates on first start."""
MIN_PASSWORD_LENGTH: Final = 12
TOKEN_PREFIX: Final = "cgh_"  # noqa: S105 - a prefix, not a secret
_USER_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TOKEN_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def new_token_secret() -> str:
    """A fresh access token secret: ``cgh_`` + 43 url-safe characters (32 random bytes)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(secret: str) -> str:
    """What the store keeps of a token secret: the sha256 hex of all of it (a fast hash suits a secret of
    256 random bits, and lets the store look tokens up by it)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(secret: str) -> bool:
    """True when ``secret`` has the shape of an access token secret."""
    return secret.startswith(TOKEN_PREFIX) and len(secret) == len(TOKEN_PREFIX) + 43


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as the API and the UI show it (never its password hash)."""

    name: str
    is_admin: bool
    created_at: datetime | None
    grants: dict[str, Permission] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenView:
    """An access token as the API and the UI show it (never its secret or the secret's hash)."""

    name: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked: bool
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A token just created: ``secret`` is shown this once and cannot be read again."""

    view: TokenView
    secret: str = field(repr=False)


def user_view(record: UserRecord) -> UserView:
    return UserView(
        name=record.name, is_admin=record.is_admin, created_at=record.created_at, grants=grants_of(record)
    )


def grants_of(record: UserRecord) -> dict[str, Permission]:
    """The user's grants as permissions (a value this version does not know is left out)."""
    known = {permission.value: permission for permission in Permission}
    return {repo: known[value] for repo, value in record.grants.items() if value in known}


def token_view(record: AccessTokenRecord) -> TokenView:
    return TokenView(
        name=record.name,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked=record.revoked_at is not None,
        last_used_at=record.last_used_at,
    )


def check_user_name(name: str) -> str:
    if not _USER_NAME_RE.fullmatch(name):
        raise ValidationFailedError(
            "name", "a user name is 1 to 64 of a-z 0-9 . _ - and starts with a letter or digit"
        )
    return name


def check_password(name: str, password: str) -> str:
    """``password`` if it may be ``name``'s password, else ValidationFailedError('password')."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailedError("password", f"must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailedError("password", f"must have at most {MAX_PASSWORD_LENGTH} characters")
    if password.casefold() == name.casefold():
        raise ValidationFailedError("password", "must not be the user name")
    if "\x00" in password:
        raise ValidationFailedError("password", "must not contain NUL characters")
    return password


class UserAdmin:
    """Users, grants and access tokens, checked and stored. ``clock`` gives the current UTC time."""

    def __init__(
        self,
        store: UserStore,
        passwords: Passwords,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock

    async def list(self) -> list[UserView]:
        return [user_view(record) for record in await self._store.list_users()]

    async def get(self, name: str) -> UserView | None:
        record = await self._store.get_user(name)
        return None if record is None else user_view(record)

    async def session_stamp(self, name: str) -> str | None:
        """A value that changes whenever the user's password does (None: no such user); a UI session
        records it at sign-in and ends when it no longer matches."""
        record = await self._store.get_user(name)
        if record is None:
            return None
        return hashlib.sha256(record.password_hash.encode("utf-8")).hexdigest()

    async def create(self, name: str, password: str, is_admin: bool = False) -> UserView:
        check_password(check_user_name(name), password)
        record = await self._store.create_user(name, await self._passwords.hash(password), is_admin)
        return user_view(record)

    async def set_password(self, name: str, password: str) -> None:
        check_password(name, password)
        await self._store.set_user_password(name, await self._passwords.hash(password))

    async def set_admin(self, name: str, is_admin: bool) -> UserView:
        return user_view(await self._store.set_user_admin(name, is_admin))

    async def delete(self, name: str) -> None:
        """Remove the user with its tokens and grants (not the last global admin)."""
        await self._store.delete_user(name)

    async def grant(self, name: str, repository: str, permission: Permission | None) -> UserView:
        """Give ``permission`` on ``repository`` (replacing the one held), or revoke it with None."""
        if permission is not None:
            try:
                permission = Permission(permission)
            except ValueError:
                raise ValidationFailedError("permission", "must be read, write or admin") from None
        value = None if permission is None else permission.value
        return user_view(await self._store.set_grant(name, repository, value))

    async def create_token(self, user: str, name: str, expires_at: datetime | None) -> CreatedToken:
        """A new token for ``user``; its ``secret`` is in the answer and nowhere else."""
        if not _TOKEN_NAME_RE.fullmatch(name):
            raise ValidationFailedError(
                "name", "a token name is 1 to 64 letters, digits and . _ - and starts with a letter or digit"
            )
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            if expires_at <= self._clock():
                raise ValidationFailedError("expires_at", "must be in the future")
        secret = new_token_secret()
        record = await self._store.create_access_token(user, name, token_hash(secret), expires_at)
        return CreatedToken(view=token_view(record), secret=secret)

    async def list_tokens(self, user: str) -> builtins.list[TokenView]:
        return [token_view(record) for record in await self._store.list_access_tokens(user)]

    async def revoke_token(self, user: str, name: str) -> None:
        await self._store.revoke_access_token(user, name)

    async def ensure_admin(self, password: str | None) -> str | None:
        """On first start (no user at all), create ``admin``, a global admin, with ``password`` or a
        generated one. Returns the generated password, to be shown once; None when ``password`` was given
        or some user already exists. ConfigError when the given password breaks the password rules."""
        generated = password is None
        if password is None:
            password = secrets.token_urlsafe(18)
        try:
            check_password(ADMIN_NAME, password)
        except ValidationFailedError as exc:
            raise ConfigError(f"the initial admin password {exc.reason}") from None
        if await self._store.has_users():  # a restart: no hash (argon2 takes 64 MiB and a few 100 ms)
            return None
        created = await self._store.create_first_user(ADMIN_NAME, await self._passwords.hash(password))
        return password if created is not None and generated else None
