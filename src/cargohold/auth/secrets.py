"""The server's secret key and what it protects: ``SecretBox`` encrypts secrets kept at rest (proxy
passwords in the metadata database, with Fernet) and derives the other keys the server signs with (the
registry JWT key, the UI session key) by HKDF-SHA256 with a distinct ``info`` per purpose.

The key is 32 random bytes, written as url-safe base64. It comes from ``CARGOHOLD_SECRET_KEY`` when the
caller passes that variable's value, else from ``<data_dir>/secret.key``, which is created on first use
with mode 0600: written and fsynced under a temporary name, then linked into place (``link`` fails when the
name exists), so concurrent workers all end up with the one key that won and nobody reads a half-written
file. Error messages name where the key came from, never the key or a secret.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cargohold.errors import ConfigError

__all__ = ["ENV_VARIABLE", "KEY_FILE_NAME", "SecretBox"]

KEY_FILE_NAME: Final = "secret.key"
ENV_VARIABLE: Final = "CARGOHOLD_SECRET_KEY"
PREFIX: Final = "fernet:"
"""Encrypted values start with this, so a store can tell them from plaintext left by older versions."""
_KEY_BYTES: Final = 32

log = logging.getLogger(__name__)


class SecretBox:
    """Encrypts and decrypts short secrets with the server key, and derives purpose-bound keys from it.

    ``source`` says where the key came from (``key file /data/secret.key`` or ``CARGOHOLD_SECRET_KEY``)
    and is what error messages name.
    """

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError(f"the secret key from {source} must be {_KEY_BYTES} bytes")
        self._key = key
        self.source = source
        self._fernet = Fernet(base64.urlsafe_b64encode(self.derive("proxy-passwords")))

    def __repr__(self) -> str:
        return f"SecretBox(source={self.source!r})"

    # --- obtaining the key ------------------------------------------------------------------------

    @staticmethod
    def generate_key() -> str:
        """A new key as url-safe base64 text (what the key file and ``CARGOHOLD_SECRET_KEY`` hold)."""
        return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")

    @classmethod
    def from_text(cls, text: str, source: str) -> SecretBox:
        """A box on the key written as ``text``; ConfigError naming ``source`` when it is not one."""
        stripped = text.strip()
        try:
            key = base64.urlsafe_b64decode(stripped.encode("ascii") + b"=" * (-len(stripped) % 4))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            key = b""
        if len(key) != _KEY_BYTES:
            raise ConfigError(f"{source} does not hold a key: expected {_KEY_BYTES} bytes in url-safe base64")
        return cls(key, source)

    @classmethod
    def load_or_create(cls, data_dir: Path, env_key: str | None) -> SecretBox:
        """The box on ``env_key`` (the value of ``CARGOHOLD_SECRET_KEY``) when given, else on the key file
        ``data_dir/secret.key``, created (mode 0600) when missing. ConfigError when neither can be used."""
        if env_key is not None and env_key.strip():
            return cls.from_text(env_key, ENV_VARIABLE)
        path = data_dir / KEY_FILE_NAME
        source = f"key file {path}"
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            text = _create_key_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the {source}: {_reason(exc)}") from exc
        _warn_when_readable_by_others(path)
        return cls.from_text(text, source)

    # --- using it -------------------------------------------------------------------------------------

    def derive(self, purpose: str) -> bytes:
        """32 bytes bound to ``purpose`` (``registry-jwt``, ``ui-session``): HKDF-SHA256 of the key with
        ``info`` = ``cargohold <purpose>``; different purposes give unrelated keys."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"cargohold {purpose}".encode())
        return hkdf.derive(self._key)

    def encrypt(self, plaintext: str) -> str:
        """``fernet:<token>``; a fresh random IV each time, so equal secrets encrypt differently."""
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, sealed: str) -> str:
        """The plaintext of ``encrypt``'s output. ConfigError naming the key's source when the value was
        encrypted with another key or is damaged (the value itself is never part of the message)."""
        if not self.is_encrypted(sealed):
            raise ConfigError("a stored secret is not encrypted where an encrypted one was expected")
        try:
            return self._fernet.decrypt(sealed[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise ConfigError(
                f"cannot decrypt a stored secret with the {self.source}: it was encrypted with another key "
                f"or is damaged (restore the key it was written with)"
            ) from exc

    @staticmethod
    def is_encrypted(value: str) -> bool:
        """True when ``value`` looks like ``encrypt``'s output (not plaintext from an older version)."""
        return value.startswith(PREFIX)


def _create_key_file(path: Path) -> str:
    """Write a new key to ``path`` (mode 0600, fsynced) unless another process got there first; return
    the key text that is in place afterwards."""
    text = SecretBox.generate_key() + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # atomic, and fails when the name exists
            except FileExistsError:
                return path.read_text(encoding="ascii")  # a concurrent worker created it first
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        _fsync_directory(path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {_reason(exc)}") from exc
    log.info("created the secret key file %s", path)
    return text


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _warn_when_readable_by_others(path: Path) -> None:
    with contextlib.suppress(OSError):
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            log.warning("the key file %s is readable by other users; make it mode 0600", path)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
