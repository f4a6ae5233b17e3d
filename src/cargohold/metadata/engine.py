"""Database URLs and engines for the SQL metadata store.

Turns the user-facing ``database`` setting (``sqlite:///./data/cargohold.db``, ``sqlite:////abs/path.db``,
``postgresql://user@host:5432/db``) into an async SQLAlchemy engine on aiosqlite or asyncpg, and sets
each backend up for several server processes sharing one database:

* SQLite: WAL journal, a busy timeout, foreign keys on, ``synchronous=NORMAL``. The driver's own implicit
  transactions are switched off and every transaction is opened here with ``BEGIN``; a writing
  transaction opens with ``BEGIN IMMEDIATE`` (see ``WRITE``) so it takes the write lock up front and waits
  for it under the busy timeout, instead of failing when a read turns into a write.
* PostgreSQL: an optional schema, put first on the ``search_path`` of every connection.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cargohold.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS: Final = 5_000  # then the caller gets 503 with Retry-After (database.Database)
"""How long a SQLite connection waits for another process's write lock before giving up."""

BEGIN_OPTION: Final = "cargohold_sqlite_begin"
"""Execution option naming the SQLite ``BEGIN`` flavour of a connection's transactions."""

WRITE: Final = {BEGIN_OPTION: "IMMEDIATE"}
"""Execution options for a connection that will write (``engine.execution_options(**WRITE)``)."""

_SCHEMA_RE: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SQLITE_SCHEMES: Final = frozenset({"sqlite", "sqlite+aiosqlite"})
_POSTGRES_SCHEMES: Final = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})


def async_url(url: str) -> URL:
    """The async-driver URL for a user-facing database URL; ConfigError for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"invalid database URL {redact(url)!r}: expected sqlite:///PATH or postgresql://…"
        ) from exc
    scheme = parsed.drivername
    if scheme in _SQLITE_SCHEMES:
        return parsed.set(drivername="sqlite+aiosqlite")
    if scheme in _POSTGRES_SCHEMES:
        if not parsed.database:
            raise ConfigError(f"database URL {redact(url)!r} names no database")
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r} in {redact(url)!r}: use sqlite:/// or postgresql://"
    )


def redact(url: str) -> str:
    """``url`` with any password replaced, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(url: URL, *, schema: str | None = None) -> AsyncEngine:
    """An async engine for ``url`` (already translated by ``async_url``), set up for its backend."""
    if is_sqlite(url):
        path = sqlite_file(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create the database directory {path.parent}: {exc}") from exc
        # Every use of a connection is a transaction that ends in COMMIT or ROLLBACK, so the pool's extra
        # rollback on check-in is a wasted round trip to the driver's thread.
        engine = create_async_engine(url, pool_reset_on_return=None)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "cargohold"}}
    if schema is not None:
        connect_args["server_settings"]["search_path"] = check_schema(schema)
    return create_async_engine(url, connect_args=connect_args, pool_pre_ping=True)


INLINE_BUSY_TIMEOUT_MS: Final = 50
"""How long an inline read waits for a locked SQLite file before the caller takes the threaded path."""


def inline_reader(url: URL) -> Engine | None:
    """For a SQLite file: a synchronous, read-only engine for point lookups run on the event loop itself.

    Through aiosqlite every statement is several hand-offs to the driver's thread (about a millisecond on a
    busy two-core machine), while an indexed lookup in a WAL database takes tens of microseconds and never
    waits for writers. Lookups on the request path (a blob link, a manifest, a tag) therefore run inline;
    when the file is locked anyway (WAL recovery) they fail fast and the caller takes the threaded path.
    None for PostgreSQL and in-memory SQLite (another connection would not see the same database).
    """
    engine = _sync_sqlite_engine(url)
    if engine is None:
        return None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit: each SELECT reads one consistent snapshot
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    return engine


def check_schema(schema: str) -> str:
    """``schema`` if it is a plain lower-case PostgreSQL identifier (no quoting needed), else ConfigError."""
    if not _SCHEMA_RE.fullmatch(schema):
        raise ConfigError(f"invalid PostgreSQL schema name {schema[:80]!r}: use [a-z_][a-z0-9_]*, at most 63")
    return schema


def thread_writer(url: URL) -> Engine | None:
    """For a SQLite file: a synchronous engine whose write transactions run whole in one worker thread.

    Through aiosqlite each statement of a transaction is a hand-off to the driver's thread and back; a
    transaction of several statements (a manifest with its references and tag) is run in one hand-off
    instead. Set up like the async engine (WAL, busy timeout, foreign keys), its transactions open with
    ``BEGIN IMMEDIATE``. None for PostgreSQL and in-memory SQLite.
    """
    engine = _sync_sqlite_engine(url)
    if engine is None:
        return None
    _configure_sqlite_engine(engine)
    return engine.execution_options(**WRITE)


def _sync_sqlite_engine(url: URL) -> Engine | None:
    """A pysqlite engine on the same file (None unless ``url`` is a SQLite file), usable from any thread."""
    if not is_sqlite(url) or sqlite_file(url) is None:
        return None
    return create_sync_engine(
        url.set(drivername="sqlite"), connect_args={"check_same_thread": False}, pool_reset_on_return=None
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    _configure_sqlite_engine(engine.sync_engine)


def _configure_sqlite_engine(sync_engine: Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver: ``_on_begin`` emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The busy timeout first: switching to WAL needs a lock another starting process may hold.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
