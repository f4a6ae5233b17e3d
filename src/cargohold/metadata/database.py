"""The database every SQL metadata store shares: one async engine and the ways of running a transaction on it.

``Database`` owns the engine (``engine.py``) and, on a SQLite file, its two synchronous helpers: the inline
reader for point lookups (``first``) and the thread writer for write transactions of several statements
(``transaction``). ``read()`` and ``write()`` open a transaction on the async engine (``write()`` with
``BEGIN IMMEDIATE`` on SQLite); ``insert()`` is the backend's ``INSERT … ON CONFLICT``. Each store holds
the one ``Database`` that ``open_metadata`` made, and ``close()`` releases it once for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Executable, Row, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
        async with self._engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A writing transaction (``BEGIN IMMEDIATE`` on SQLite: the write lock is taken up front)."""
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
            with writer.begin() as connection:
                return work(connection)

        return await asyncio.to_thread(run)

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
