"""The database every SQL metadata store shares: one async engine and the ways of running a transaction on it.

``Database`` owns the engine (``engine.py``) and, on a SQLite file, its two synchronous helpers: the inline
reader for point lookups (``first``) and the thread writer for write transactions of several statements
(``transaction``). ``read()`` and ``write()`` open a transaction on the async engine (``write()`` with
``BEGIN IMMEDIATE`` on SQLite); ``insert()`` is the backend's ``INSERT … ON CONFLICT``. Each store holds
the one ``Database`` that ``open_metadata`` made, and ``close()`` releases it once for all of them.

A SQLite file that stays locked past the busy timeout (another process holds a long write) is not a bug:
every way in raises ``UnavailableError`` with ``Retry-After`` (503), never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Executable, Row, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cargohold.errors import UnavailableError
from cargohold.metadata.engine import WRITE, inline_reader, thread_writer

T = TypeVar("T")


class Database:
    """An async engine with its transaction helpers, on an engine from ``engine.create_engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._inline = inline_reader(engine.url)
        self._thread_writer = thread_writer(engine.url)
        self.postgres = engine.dialect.name == "postgresql"
        """True on PostgreSQL (advisory locks), False on SQLite."""

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A reading transaction."""
        with _busy_is_unavailable():
            async with self._engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A writing transaction (``BEGIN IMMEDIATE`` on SQLite: the write lock is taken up front)."""
        with _busy_is_unavailable():
            async with self._writer.begin() as connection:
                yield connection

    async def first(self, query: Executable, parameters: dict[str, Any] | None = None) -> Row[Any] | None:
        """The first row of a point lookup (inline on SQLite: ``engine.inline_reader``)."""
        if self._inline is not None:
            try:
                with self._inline.connect() as connection:
                    return connection.execute(query, parameters).first()
            except OperationalError:  # the file is locked (WAL recovery): the threaded path waits for it
                pass
        async with self.read() as connection:
            return (await connection.execute(query, parameters)).first()

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` as one write transaction: in one worker-thread hand-off on SQLite
        (``engine.thread_writer``), through the async engine elsewhere."""
        writer = self._thread_writer
        if writer is None:
            async with self.write() as connection:
                return await connection.run_sync(work)

        def run() -> T:
            with _busy_is_unavailable(), writer.begin() as connection:
                return work(connection)

        return await asyncio.to_thread(run)

    async def ping(self) -> None:
        """Read the schema version through the engine's pool (a real query on the database file or server);
        raises whatever the driver raises when the database does not answer."""
        async with self.read() as connection:
            await connection.execute(text("SELECT version_num FROM alembic_version"))

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT with the backend's ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
        return postgresql.insert(table) if self.postgres else sqlite.insert(table)

    async def close(self) -> None:
        """Release every connection (the synchronous SQLite helpers' too)."""
        if self._inline is not None:
            self._inline.dispose()
        if self._thread_writer is not None:
            self._thread_writer.engine.dispose()
        await self._engine.dispose()


BUSY_RETRY_AFTER: Final = 1  # seconds a client is asked to wait when the database stayed locked


@contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    """Turn SQLite's "database is locked" (after the busy timeout) into a 503 with Retry-After."""
    try:
        yield
    except OperationalError as error:
        text = str(error.orig).lower()
        if "database is locked" not in text and "database is busy" not in text:
            raise
        raise UnavailableError("the database is busy; retry shortly", retry_after=BUSY_RETRY_AFTER) from None
