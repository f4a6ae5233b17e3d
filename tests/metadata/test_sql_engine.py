"""The SQL store's URL handling and SQLite set-up: driver translation, the database directory, WAL, busy
timeout, foreign keys, and concurrent writers sharing one file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cargohold.errors import ConfigError
from cargohold.metadata.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    async_url,
    check_schema,
    inline_reader,
    redact,
    thread_writer,
)
from cargohold.metadata.sql import open_metadata
from cargohold.models import Digest, ManifestRecord, ManifestReferences, MediaType, Repository, Upload


@pytest.mark.parametrize(
    ("url", "driver", "database"),
    [
        ("sqlite:///./data/cargohold.db", "sqlite+aiosqlite", "./data/cargohold.db"),
        ("sqlite:////abs/path.db", "sqlite+aiosqlite", "/abs/path.db"),
        ("sqlite+aiosqlite:////abs/path.db", "sqlite+aiosqlite", "/abs/path.db"),
        ("postgresql://user@host:5432/db", "postgresql+asyncpg", "db"),
        ("postgres://user:pw@host/db", "postgresql+asyncpg", "db"),
        ("postgresql+asyncpg://host/db", "postgresql+asyncpg", "db"),
    ],
)
def test_user_urls_become_async_driver_urls(url: str, driver: str, database: str) -> None:
    translated = async_url(url)
    assert (translated.drivername, translated.database) == (driver, database)


def test_postgres_url_keeps_user_host_and_port() -> None:
    translated = async_url("postgresql://alice:secret@db.example.com:6543/registry")
    assert (translated.username, translated.password, translated.host, translated.port) == (
        "alice",
        "secret",
        "db.example.com",
        6543,
    )


@pytest.mark.parametrize(
    "url", ["mysql://host/db", "not a url", "", "postgresql://host", "http://example.com/db", "sqlite"]
)
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        async_url(url)


def test_messages_never_show_the_password() -> None:
    assert "secret" not in redact("postgresql://alice:secret@host/db")
    with pytest.raises(ConfigError) as caught:
        async_url("mysql://alice:secret@host/db")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("schema", ["", "Upper", "1abc", "a-b", 'x"; drop', "a" * 64])
def test_schema_names_are_plain_identifiers(schema: str) -> None:
    with pytest.raises(ConfigError):
        check_schema(schema)


async def test_unreachable_postgres_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot open the metadata database"):
        await open_metadata("postgresql://nobody:secret@127.0.0.1:1/none")


async def test_relative_sqlite_path_creates_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_metadata("sqlite:///./data/cargohold.db")
    try:
        await store.repositories.create_repository(Repository(name="hub"))
    finally:
        await store.close()
    assert (tmp_path / "data" / "cargohold.db").is_file()


async def test_absolute_sqlite_path_creates_nested_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "meta.db"
    store = await open_metadata(f"sqlite:///{path}")
    await store.close()
    assert path.is_file()


async def test_sqlite_directory_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError):
        await open_metadata(f"sqlite:///{blocker}/sub/meta.db")


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = await open_metadata(f"sqlite:///{tmp_path}/meta.db")
    try:
        async with store.database.engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA busy_timeout")) == SQLITE_BUSY_TIMEOUT_MS
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await store.close()


async def test_timestamps_are_stored_in_utc(tmp_path: Path) -> None:
    store = await open_metadata(f"sqlite:///{tmp_path}/meta.db")
    try:
        repository = await store.repositories.create_repository(Repository(name="hub"))
        assert repository.id is not None
        plus_two = datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
        naive = datetime(2024, 1, 1, 12, 0)
        await store.content.create_upload(Upload("aware", repository.id, "app", created_at=plus_two))
        await store.content.create_upload(Upload("naive", repository.id, "app", created_at=naive))
        for upload_id in ("aware", "naive"):
            upload = await store.content.get_upload(upload_id)
            assert upload is not None
            assert upload.created_at is not None
            assert upload.created_at.tzinfo is UTC
            assert upload.created_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    finally:
        await store.close()


async def test_two_processes_worth_of_writers_share_one_sqlite_file(tmp_path: Path) -> None:
    """Two stores (as two server workers would) write at once without 'database is locked'."""
    url = f"sqlite:///{tmp_path}/meta.db"
    first, second = await open_metadata(url), await open_metadata(url)
    try:
        repository = await first.repositories.create_repository(Repository(name="hub"))
        assert repository.id is not None
        repository_id = repository.id

        async def push(store_index: int, number: int) -> None:
            store = (first, second)[store_index]
            digest = Digest.of(f"{store_index}-{number}".encode())
            record = ManifestRecord(digest, MediaType.OCI_MANIFEST, 1)
            await store.content.link_blob(repository_id, "app", digest, 1)
            await store.content.put_manifest(
                repository_id, "app", record, ManifestReferences(blobs=(digest,)), tag="latest"
            )
            await store.content.put_manifest(
                repository_id, "app", record, ManifestReferences(), tag=f"t{store_index}-{number}"
            )

        await asyncio.gather(*(push(i % 2, i) for i in range(40)))
        page = await second.content.list_tags(repository_id, "app", None, None)
        assert len(page.items) == 41
    finally:
        await first.close()
        await second.close()


async def test_read_then_write_transactions_wait_for_each_other(tmp_path: Path) -> None:
    """Methods that look before they write (update, sync) take the write lock first, so two workers
    doing them at once both succeed instead of one failing on a stale snapshot."""
    url = f"sqlite:///{tmp_path}/meta.db"
    first, second = await open_metadata(url), await open_metadata(url)
    try:
        await first.repositories.create_repository(Repository(name="hub"))

        async def update(number: int) -> None:
            store = (first, second)[number % 2]
            await store.repositories.update_repository(Repository(name="hub", tag_ttl_seconds=number))
            await store.repositories.sync_declared_repositories(
                [(Repository(name=f"declared-{number % 3}"), [])]
            )

        await asyncio.gather(*(update(i) for i in range(40)))
        repositories = await first.repositories.list_repositories()
        assert [r.name for r in repositories] == ["declared-0", "declared-1", "declared-2", "hub"]
    finally:
        await first.close()
        await second.close()


def test_inline_reads_only_for_a_sqlite_file(tmp_path: Path) -> None:
    assert inline_reader(async_url("postgresql://user@127.0.0.1/db")) is None
    assert inline_reader(async_url("sqlite:///:memory:")) is None
    engine = inline_reader(async_url(f"sqlite:///{tmp_path}/meta.db"))
    assert engine is not None
    engine.dispose()


async def test_inline_lookups_see_committed_writes_and_never_write(tmp_path: Path) -> None:
    store = await open_metadata(f"sqlite:///{tmp_path}/meta.db")
    try:
        repository = await store.repositories.create_repository(Repository(name="hub"))
        digest = Digest.of(b"layer")
        assert await store.content.get_blob_link(repository.id, "img", digest) is None
        await store.content.link_blob(repository.id, "img", digest, 5)
        link = await store.content.get_blob_link(repository.id, "img", digest)
        assert link is not None
        assert link.size == 5
        inline = inline_reader(async_url(f"sqlite:///{tmp_path}/meta.db"))
        assert inline is not None
        try:
            with inline.connect() as connection, pytest.raises(OperationalError, match="readonly"):
                connection.execute(text("DELETE FROM blob_links"))
        finally:
            inline.dispose()
    finally:
        await store.close()


async def test_a_locked_file_sends_inline_lookups_the_threaded_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await open_metadata(f"sqlite:///{tmp_path}/meta.db")
    try:
        repository = await store.repositories.create_repository(Repository(name="hub"))
        digest = Digest.of(b"layer")
        await store.content.link_blob(repository.id, "img", digest, 7)
        assert store.database._inline is not None

        def locked() -> None:
            raise OperationalError("SELECT", {}, Exception("database is locked"))

        monkeypatch.setattr(store.database._inline, "connect", locked)
        assert await store.content.linked_blob_size(repository.id, "img", digest) == 7
    finally:
        await store.close()


def test_the_thread_writer_is_set_up_like_the_async_engine(tmp_path: Path) -> None:
    assert thread_writer(async_url("postgresql://user@127.0.0.1/db")) is None
    assert thread_writer(async_url("sqlite:///:memory:")) is None
    writer = thread_writer(async_url(f"sqlite:///{tmp_path}/meta.db"))
    assert writer is not None
    try:
        with writer.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    finally:
        writer.engine.dispose()
