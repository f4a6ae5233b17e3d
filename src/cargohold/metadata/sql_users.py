"""Users, their grants on repositories and their personal access tokens in the SQL metadata store.

A user's grants hang off ``users.id`` and ``repositories.id`` with ``ON DELETE CASCADE`` (deleting either
removes them), as its tokens hang off ``users.id``. A token is stored as the sha256 hex of its secret and
found by it; its name is unique among the user's tokens that are not revoked (a partial unique index), so a
revoked or expired token never blocks a new one of the same name. The store refuses any change that would
leave no global admin: the admins' rows are locked first, so two concurrent demotions cannot both pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, Select, bindparam, delete, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cargohold.errors import NameUnknownError, RepositoryExistsError, UserUnknownError, ValidationFailedError
from cargohold.metadata import rows
from cargohold.metadata.database import Database
from cargohold.metadata.schema import access_tokens, repositories, user_grants, users
from cargohold.models import AccessTokenRecord, UserRecord

FIRST_USER_LOCK_KEY: Final = 0x63617267_75736572  # "carguser"
"""The PostgreSQL advisory lock that lets exactly one starting process create the first user."""


class SqlUserStore:
    """``UserStore`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create_user(self, name: str, password_hash: str, is_admin: bool = False) -> UserRecord:
        async with self._database.write() as connection:
            if await _user_id(connection, name) is not None:
                raise RepositoryExistsError(f"user {name!r} already exists")
            return await _insert_user(connection, name, password_hash, is_admin)

    async def create_first_user(self, name: str, password_hash: str) -> UserRecord | None:
        async with self._database.write() as connection:
            if self._database.postgres:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIRST_USER_LOCK_KEY}
                )
            if await connection.scalar(select(users.c.id).limit(1)) is not None:
                return None
            return await _insert_user(connection, name, password_hash, True)

    async def has_users(self) -> bool:
        async with self._database.read() as connection:
            return await connection.scalar(select(users.c.id).limit(1)) is not None

    async def get_user(self, name: str) -> UserRecord | None:
        async with self._database.read() as connection:
            found = await _load_users(connection, users.c.name == name)
        return found[0] if found else None

    async def list_users(self) -> list[UserRecord]:
        async with self._database.read() as connection:
            return await _load_users(connection)

    async def set_user_password(self, name: str, password_hash: str) -> None:
        async with self._database.write() as connection:
            result = await connection.execute(
                update(users).where(users.c.name == name).values(password_hash=password_hash)
            )
            if result.rowcount == 0:
                raise UserUnknownError(f"user {name!r} unknown")

    async def set_user_admin(self, name: str, is_admin: bool) -> UserRecord:
        async with self._database.write() as connection:
            admins = await _lock_admins(connection)
            user_id = await _existing_user_id(connection, name)
            if not is_admin and admins == [user_id]:
                raise ValidationFailedError("is_admin", f"{name!r} is the last admin; make another one first")
            await connection.execute(update(users).where(users.c.id == user_id).values(is_admin=is_admin))
            return (await _load_users(connection, users.c.id == user_id))[0]

    async def delete_user(self, name: str) -> None:
        async with self._database.write() as connection:
            admins = await _lock_admins(connection)
            user_id = await _existing_user_id(connection, name)
            if admins == [user_id]:
                raise ValidationFailedError("name", f"{name!r} is the last admin; make another one first")
            await connection.execute(delete(users).where(users.c.id == user_id))  # grants, tokens cascade

    async def set_grant(self, name: str, repository: str, permission: str | None) -> UserRecord:
        async with self._database.write() as connection:
            user_id = await _existing_user_id(connection, name)
            repository_id = await connection.scalar(
                select(repositories.c.id).where(repositories.c.name == repository)
            )
            if repository_id is None:
                raise NameUnknownError(f"repository {repository!r} unknown")
            key = (user_grants.c.user_id == user_id, user_grants.c.repository_id == repository_id)
            if permission is None:
                await connection.execute(delete(user_grants).where(*key))
            else:
                insert = self._database.insert(user_grants).values(
                    user_id=user_id, repository_id=repository_id, permission=permission
                )
                await connection.execute(
                    insert.on_conflict_do_update(
                        index_elements=["user_id", "repository_id"], set_={"permission": permission}
                    )
                )
            return (await _load_users(connection, users.c.id == user_id))[0]

    async def create_access_token(
        self, user: str, name: str, token_hash: str, expires_at: datetime | None
    ) -> AccessTokenRecord:
        now = rows.now()
        async with self._database.write() as connection:
            user_id = await _existing_user_id(connection, user)
            live = (access_tokens.c.user_id == user_id, access_tokens.c.name == name, _not_revoked())
            # An expired token authenticates nobody; it gives its name up to the new one.
            await connection.execute(
                update(access_tokens).where(*live, access_tokens.c.expires_at <= now).values(revoked_at=now)
            )
            if await connection.scalar(select(access_tokens.c.id).where(*live)) is not None:
                raise RepositoryExistsError(f"user {user!r} already has a token {name!r}")
            try:
                result = await connection.execute(
                    access_tokens.insert()
                    .values(
                        user_id=user_id,
                        name=name,
                        token_hash=token_hash,
                        created_at=now,
                        expires_at=expires_at,
                    )
                    .returning(access_tokens.c.id)
                )
            except IntegrityError as exc:  # a concurrent create of the same name won
                raise RepositoryExistsError(f"user {user!r} already has a token {name!r}") from exc
            token_id = int(result.scalar_one())
            row = (await connection.execute(_token_query().where(access_tokens.c.id == token_id))).one()
            return _token(row)

    async def list_access_tokens(self, user: str) -> list[AccessTokenRecord]:
        async with self._database.read() as connection:
            user_id = await _existing_user_id(connection, user)
            result = await connection.execute(
                _token_query()
                .where(access_tokens.c.user_id == user_id)
                .order_by(access_tokens.c.name, access_tokens.c.created_at, access_tokens.c.id)
            )
            return [_token(row) for row in result]

    async def revoke_access_token(self, user: str, name: str) -> None:
        async with self._database.write() as connection:
            user_id = await _existing_user_id(connection, user)
            named = (access_tokens.c.user_id == user_id, access_tokens.c.name == name)
            if await connection.scalar(select(access_tokens.c.id).where(*named).limit(1)) is None:
                raise UserUnknownError(f"user {user!r} has no token {name!r}")
            await connection.execute(
                update(access_tokens).where(*named, _not_revoked()).values(revoked_at=rows.now())
            )

    async def find_access_token(self, token_hash: str) -> tuple[AccessTokenRecord, UserRecord] | None:
        async with self._database.read() as connection:
            row = (
                await connection.execute(_token_query().where(access_tokens.c.token_hash == token_hash))
            ).first()
            if row is None:
                return None
            owner = await _load_users(connection, users.c.id == row.user_id)
        return _token(row), owner[0]

    async def record_token_uses(self, uses: Mapping[int, datetime]) -> None:
        if not uses:
            return
        statement = (
            update(access_tokens)
            .where(
                access_tokens.c.id == bindparam("token_id"),
                or_(
                    access_tokens.c.last_used_at.is_(None),
                    access_tokens.c.last_used_at < bindparam("used_at"),
                ),
            )
            .values(last_used_at=bindparam("used_at"))
        )
        values = [{"token_id": token_id, "used_at": uses[token_id]} for token_id in sorted(uses)]
        async with self._database.write() as connection:
            await connection.execute(statement, values)


# --- statements (inside the caller's transaction) ------------------------------------------------------


def _not_revoked() -> ColumnElement[bool]:
    return access_tokens.c.revoked_at.is_(None)


async def _user_id(connection: AsyncConnection, name: str) -> int | None:
    found: int | None = await connection.scalar(select(users.c.id).where(users.c.name == name))
    return found


async def _existing_user_id(connection: AsyncConnection, name: str) -> int:
    found = await _user_id(connection, name)
    if found is None:
        raise UserUnknownError(f"user {name!r} unknown")
    return found


async def _lock_admins(connection: AsyncConnection) -> list[int]:
    """The ids of the global admins, their rows locked until the transaction ends."""
    result = await connection.scalars(
        select(users.c.id).where(users.c.is_admin.is_(True)).order_by(users.c.id).with_for_update()
    )
    return list(result)


async def _insert_user(
    connection: AsyncConnection, name: str, password_hash: str, is_admin: bool
) -> UserRecord:
    try:
        result = await connection.execute(
            users.insert()
            .values(name=name, password_hash=password_hash, is_admin=is_admin, created_at=rows.now())
            .returning(users.c.id)
        )
    except IntegrityError as exc:  # a concurrent create of the same name won
        raise RepositoryExistsError(f"user {name!r} already exists") from exc
    return (await _load_users(connection, users.c.id == int(result.scalar_one())))[0]


async def _load_users(connection: AsyncConnection, *conditions: Any) -> list[UserRecord]:
    """Users matching ``conditions``, by name, with their grants by repository name."""
    found = (await connection.execute(select(users).where(*conditions).order_by(users.c.name))).all()
    if not found:
        return []
    grants: dict[int, dict[str, str]] = {row.id: {} for row in found}
    grant_rows = await connection.execute(
        select(user_grants.c.user_id, repositories.c.name, user_grants.c.permission)
        .join(repositories, repositories.c.id == user_grants.c.repository_id)
        .where(user_grants.c.user_id.in_(list(grants)))
        .order_by(repositories.c.name)
    )
    for grant in grant_rows:
        grants[grant.user_id][grant.name] = grant.permission
    return [
        UserRecord(
            name=row.name,
            password_hash=row.password_hash,
            is_admin=row.is_admin,
            grants=grants[row.id],
            created_at=row.created_at,
            id=row.id,
        )
        for row in found
    ]


def _token_query() -> Select[Any]:
    return select(access_tokens, users.c.name.label("user_name")).join(
        users, users.c.id == access_tokens.c.user_id
    )


def _token(row: Row[Any]) -> AccessTokenRecord:
    return AccessTokenRecord(
        user=row.user_name,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        id=row.id,
    )
