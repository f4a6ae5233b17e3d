"""The server's TLS context: TLS 1.2+ with a modern cipher list, and a certificate that can be replaced
while the server runs.

``ReloadingTls.context`` is what the listening socket uses. Its SNI callback hands every new handshake the
most recently loaded certificate, so a reload (``reload()``, on SIGHUP or when ``watch()`` sees the files
change) is seen by the next connection while established ones keep theirs. A new certificate is loaded in a
context of its own first: a file that is missing, unreadable, not PEM or whose key does not match keeps the
old certificate, and the log says why. At start the same problems are a ``ConfigError`` (no traceback).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509

from cargohold.errors import ConfigError

log = logging.getLogger("cargohold.tls")

MODERN_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!SHA1:!SHA256:!SHA384"
"""TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate"); TLS 1.3 has its own."""

WATCH_SECONDS: Final = 5.0
"""How often ``watch()`` looks at the certificate and key files."""


def load_server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """A server context with ``certificate`` (PEM, a chain is fine) and ``key``; ConfigError saying what
    is wrong with them otherwise."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MODERN_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])
    for name, path in (("tls.certificate", certificate), ("tls.key", key)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        context.load_cert_chain(certificate, key)
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise ConfigError(
            f"tls: cannot use certificate {certificate} with key {key}: {reason} "
            "(PEM files expected: the certificate first, then any intermediates; an unencrypted key that "
            "belongs to it)"
        ) from None
    return context


@dataclass(frozen=True)
class _Stamp:
    """What changes when a file is rewritten or replaced (a symlink swapped, as Kubernetes does)."""

    inode: int
    size: int
    mtime_ns: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _Stamp(stat.st_ino, stat.st_size, stat.st_mtime_ns)


def describe_certificate(path: Path) -> str:
    """``subject, valid until …`` of the first certificate in a PEM file (for the log)."""
    try:
        certificate = x509.load_pem_x509_certificates(path.read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return "an unreadable certificate"
    until = certificate.not_valid_after_utc
    expired = " (EXPIRED)" if until < datetime.datetime.now(datetime.UTC) else ""
    subject = certificate.subject.rfc4514_string() or "no subject"
    return f"{subject}, valid until {until:%Y-%m-%d %H:%M} UTC{expired}"


class ReloadingTls:
    """The listening context and the certificate it currently hands out."""

    def __init__(self, certificate: Path, key: Path) -> None:
        self._certificate = certificate
        self._key = key
        self._current = load_server_context(certificate, key)
        self._stamps = self._read_stamps()
        self.context = load_server_context(certificate, key)
        self.context.sni_callback = self._choose
        log.info("TLS certificate %s: %s", certificate, describe_certificate(certificate))

    def _choose(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: object) -> None:
        """Every handshake (with or without SNI) gets the certificate loaded last."""
        connection.context = self._current

    def _read_stamps(self) -> tuple[_Stamp | None, _Stamp | None]:
        return _stamp(self._certificate), _stamp(self._key)

    def reload(self) -> bool:
        """Load the files again; True when the new certificate is in use, False (logged) when it is kept."""
        self._stamps = self._read_stamps()
        try:
            context = load_server_context(self._certificate, self._key)
        except ConfigError as exc:
            log.error("TLS certificate not reloaded, the previous one stays in use: %s", exc.message)
            return False
        self._current = context
        log.info(
            "TLS certificate reloaded from %s: %s", self._certificate, describe_certificate(self._certificate)
        )
        return True

    def changed(self) -> bool:
        """True when the certificate or key file changed since the last (re)load."""
        return self._read_stamps() != self._stamps

    async def watch(self, seconds: float = WATCH_SECONDS) -> None:
        """Reload whenever the files change (runs until cancelled)."""
        while True:
            await asyncio.sleep(seconds)
            if self.changed():
                await asyncio.sleep(0.5)  # let whoever writes them finish writing both
                self.reload()
