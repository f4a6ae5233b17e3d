"""Proxy passwords encrypted at rest in the SQL metadata store.

The store is given a ``SecretCipher`` (``cargohold.auth.secrets.SecretBox`` is one; the metadata layer
sits below ``auth`` and knows only this protocol). With one, every write of ``proxies.password`` stores
the cipher's output and every read gives the plaintext back, so nothing above the store changes; rows
left in plaintext by older versions are encrypted when the store opens (``seal_stored_passwords``), which
also proves that the key decrypts what is already there. Without a cipher passwords are stored as given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cargohold.metadata.schema import proxies
from cargohold.models import Proxy


class SecretCipher(Protocol):
    """Encrypts secrets kept in the database; ``decrypt`` raises ConfigError for a value it cannot
    decrypt (another key), naming the key's source and never the value."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, sealed: str) -> str: ...

    def is_encrypted(self, value: str) -> bool: ...


def seal(cipher: SecretCipher | None, password: str | None) -> str | None:
    """What to write into ``proxies.password`` for ``password``."""
    if cipher is None or password is None:
        return password
    return cipher.encrypt(password)


def sealed(cipher: SecretCipher | None, given: Sequence[Proxy]) -> list[Proxy]:
    """``given`` with their passwords as they are to be written."""
    return [dataclasses.replace(proxy, password=seal(cipher, proxy.password)) for proxy in given]


def opened(cipher: SecretCipher | None, proxy: Proxy) -> Proxy:
    """``proxy`` as read, with its password decrypted (plaintext a concurrent older version wrote is
    passed through as it is)."""
    if cipher is None or proxy.password is None or not cipher.is_encrypted(proxy.password):
        return proxy
    return dataclasses.replace(proxy, password=cipher.decrypt(proxy.password))


async def seal_stored_passwords(connection: AsyncConnection, cipher: SecretCipher) -> int:
    """Encrypt every plaintext proxy password and check that the encrypted ones decrypt (ConfigError
    otherwise); returns how many rows were encrypted. Runs inside the caller's (writing) transaction."""
    result = await connection.execute(
        select(proxies.c.id, proxies.c.password)
        .where(proxies.c.password.is_not(None))
        .order_by(proxies.c.id)
        .with_for_update()
    )
    changed = 0
    for row in result.all():
        if cipher.is_encrypted(row.password):
            cipher.decrypt(row.password)
            continue
        await connection.execute(
            update(proxies).where(proxies.c.id == row.id).values(password=cipher.encrypt(row.password))
        )
        changed += 1
    return changed
