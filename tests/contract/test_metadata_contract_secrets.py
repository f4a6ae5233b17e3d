"""Contract: proxy passwords are encrypted at rest when the store has a SecretBox — on every write path
the password column never holds the clear text, every read gives it back, plaintext rows of older versions
are encrypted when the store opens, and a store opened with another key refuses clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import text

from cargohold.auth.secrets import SecretBox
from cargohold.errors import ConfigError
from cargohold.metadata.sql import Metadata, open_metadata
from cargohold.models import Proxy, ProxyChanges, Repository


class Backend(Protocol):
    """The ``backend`` fixture of conftest.py."""

    url: str
    schema: str | None


PASSWORD = "correct-horse-battery-staple"


def box_in(directory: Path) -> SecretBox:
    return SecretBox.load_or_create(directory, None)


async def raw_passwords(metadata: Metadata) -> dict[str, str | None]:
    """The password column exactly as the database holds it, by proxy name."""
    async with metadata.database.engine.connect() as connection:
        result = await connection.execute(text("SELECT name, password FROM proxies"))
        return {row.name: row.password for row in result}


def proxy(name: str, password: str | None = PASSWORD) -> Proxy:
    return Proxy(name=name, url=f"https://{name}.example.com", username="u", password=password)


async def test_every_write_path_stores_only_ciphertext_and_reads_give_clear_text(
    backend: Backend, tmp_path: Path
) -> None:
    box = box_in(tmp_path)
    metadata = await open_metadata(backend.url, schema=backend.schema, secrets=box)
    try:
        created = await metadata.repositories.create_repository(Repository(name="hub"), [proxy("created")])
        await metadata.repositories.sync_declared_repositories(
            [(Repository(name="declared"), [proxy("synced")])]
        )
        added = await metadata.repositories.add_proxy("hub", proxy("added"))
        updated = await metadata.repositories.update_proxy(
            "hub", "created", ProxyChanges(password=PASSWORD + "-new")
        )
        renamed = await metadata.repositories.update_proxy("hub", "added", ProxyChanges(name="renamed"))
        assert added.password == PASSWORD
        assert updated.password == PASSWORD + "-new"
        assert renamed.password == PASSWORD

        raw = await raw_passwords(metadata)
        assert set(raw) == {"created", "synced", "renamed"}
        for value in raw.values():
            assert value is not None
            assert PASSWORD not in value
            assert value.startswith("fernet:")

        assert created.id is not None
        listed = {p.name: p.password for p in await metadata.repositories.list_proxies(created.id)}
        assert listed == {"created": PASSWORD + "-new", "renamed": PASSWORD}
        moved = await metadata.repositories.move_proxy("hub", "renamed", 1)
        assert [(p.name, p.password) for p in moved] == [
            ("renamed", PASSWORD),
            ("created", PASSWORD + "-new"),
        ]
        declared = await metadata.repositories.get_repository("declared")
        assert declared is not None
        assert declared.id is not None
        assert [p.password for p in await metadata.repositories.list_proxies(declared.id)] == [PASSWORD]
    finally:
        await metadata.close()


async def test_clearing_and_keeping_a_password(backend: Backend, tmp_path: Path) -> None:
    metadata = await open_metadata(backend.url, schema=backend.schema, secrets=box_in(tmp_path))
    try:
        await metadata.repositories.create_repository(
            Repository(name="hub"), [proxy("a"), proxy("b", password=None)]
        )
        kept = await metadata.repositories.update_proxy(
            "hub", "a", ProxyChanges(url="https://other.example.com")
        )
        assert kept.password == PASSWORD
        cleared = await metadata.repositories.update_proxy("hub", "a", ProxyChanges(clear_password=True))
        assert cleared.password is None
        assert await raw_passwords(metadata) == {"a": None, "b": None}
    finally:
        await metadata.close()


async def test_plaintext_rows_of_an_older_version_are_encrypted_at_open(
    backend: Backend, tmp_path: Path
) -> None:
    old = await open_metadata(backend.url, schema=backend.schema)  # no SecretBox: as before
    try:
        created = await old.repositories.create_repository(
            Repository(name="hub"), [proxy("a"), proxy("b", None)]
        )
        assert await raw_passwords(old) == {"a": PASSWORD, "b": None}
    finally:
        await old.close()
    assert created.id is not None

    new = await open_metadata(backend.url, schema=backend.schema, secrets=box_in(tmp_path))
    try:
        raw = await raw_passwords(new)
        assert raw["b"] is None
        assert raw["a"] is not None
        assert PASSWORD not in raw["a"]
        assert [p.password for p in await new.repositories.list_proxies(created.id)] == [PASSWORD, None]
    finally:
        await new.close()

    again = await open_metadata(backend.url, schema=backend.schema, secrets=box_in(tmp_path))
    try:  # already encrypted rows are left alone
        assert await raw_passwords(again) == raw
    finally:
        await again.close()


async def test_a_store_opened_with_another_key_refuses_clearly(backend: Backend, tmp_path: Path) -> None:
    right = box_in(tmp_path / "right")
    metadata = await open_metadata(backend.url, schema=backend.schema, secrets=right)
    try:
        await metadata.repositories.create_repository(Repository(name="hub"), [proxy("a")])
    finally:
        await metadata.close()

    wrong_dir = tmp_path / "wrong"
    with pytest.raises(ConfigError) as refused:
        await open_metadata(backend.url, schema=backend.schema, secrets=box_in(wrong_dir))
    message = str(refused.value)
    assert str(wrong_dir / "secret.key") in message
    assert PASSWORD not in message
    assert (wrong_dir / "secret.key").read_text().strip() not in message

    reopened = await open_metadata(backend.url, schema=backend.schema, secrets=right)
    try:
        repository = await reopened.repositories.get_repository("hub")
        assert repository is not None
        assert repository.id is not None
        assert [p.password for p in await reopened.repositories.list_proxies(repository.id)] == [PASSWORD]
    finally:
        await reopened.close()
