"""Turning what an upstream did into domain errors: transport exceptions and HTTP statuses become
``UpstreamFailedError`` (with a ``FailureKind``) or ``UpstreamNotFoundError``, with a message that names the
proxy and what happened, and never a password or token (``Redactor`` scrubs them from any text we pass on).

Mapping: timeouts → TIMEOUT; certificate and handshake errors → TLS (saying what is wrong with the
certificate); DNS, refused, reset, an address the network policy forbids → UNREACHABLE; a body cut
short → BAD_CONTENT; 404 and 403 → not found; 429 → RATE_LIMITED with ``Retry-After`` (seconds or an
HTTP date); 5xx → SERVER_ERROR; anything else → PROTOCOL.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

import aiohttp

from cargohold.errors import FailureKind, UpstreamError, UpstreamFailedError, UpstreamNotFoundError
from cargohold.registry.networks import DENIED_REASON, PRIVATE_REASON

MAX_RETRY_AFTER_S: Final = 24 * 3600


class Redactor:
    """Remembers the secrets of one proxy (its password, tokens it was issued) and removes them from text."""

    KEEP_TOKENS: Final = 64  # tokens are renewed forever in a long-running server: keep the latest ones

    def __init__(self) -> None:
        self._permanent: set[str] = set()  # the password and its Basic encoding
        self._secrets: dict[str, None] = {}  # tokens, ordered: the oldest is forgotten first

    def add(self, secret: str | None, *, permanent: bool = False) -> None:
        if not secret or len(secret) < 3:
            return
        if permanent:
            self._permanent.add(secret)
        else:
            self._secrets.pop(secret, None)
            self._secrets[secret] = None
            while len(self._secrets) > self.KEEP_TOKENS:
                del self._secrets[next(iter(self._secrets))]

    def __call__(self, text: str) -> str:
        for secret in [*self._permanent, *self._secrets]:
            text = text.replace(secret, "***")
        return text


def failed(
    proxy: str, kind: FailureKind, what: str, *, retry_after: int | None = None
) -> UpstreamFailedError:
    """An ``UpstreamFailedError`` whose message starts with the proxy's name."""
    return UpstreamFailedError(f"proxy {proxy}: {what}", kind=kind, proxy_name=proxy, retry_after=retry_after)


def not_found(proxy: str, what: str) -> UpstreamNotFoundError:
    return UpstreamNotFoundError(f"proxy {proxy}: {what}", proxy_name=proxy)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> int | None:
    """``Retry-After`` as whole seconds from now: delta-seconds or an HTTP date; None if absent or garbage."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0, min(int(seconds + 0.999), MAX_RETRY_AFTER_S))


def _certificate_problem(error: BaseException | None) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return error.verify_message or error.reason or "certificate verification failed"
    if isinstance(error, ssl.SSLError):
        return error.reason or error.__class__.__name__
    return str(error) if error is not None else "TLS handshake failed"


def transport_error(proxy: str, exc: BaseException, where: str, redact: Redactor) -> UpstreamError:
    """The domain error for an exception raised while talking to ``where`` (``host:port`` or a URL path)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        problem = _certificate_problem(exc.certificate_error)
        return failed(proxy, FailureKind.TLS, f"TLS certificate of {where} rejected: {problem}")
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError | ssl.SSLError):
        cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        return failed(
            proxy, FailureKind.TLS, f"TLS handshake with {where} failed: {_certificate_problem(cause)}"
        )
    if isinstance(exc, TimeoutError):  # also aiohttp's ServerTimeoutError / ConnectionTimeoutError
        phase = "connecting to" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "waiting for"
        return failed(proxy, FailureKind.TIMEOUT, f"timed out {phase} {where}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return failed(proxy, FailureKind.UNREACHABLE, f"cannot resolve {where}")
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.errno == errno.EACCES:
        text = str(exc.os_error)  # one AddressRefusedError, or several joined by aiohappyeyeballs
        reason = next((r for r in (DENIED_REASON, PRIVATE_REASON) if r in text), None)
        if reason is not None:
            return failed(proxy, FailureKind.UNREACHABLE, f"connection to {where} refused: {reason}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or exc.os_error.__class__.__name__
        return failed(proxy, FailureKind.UNREACHABLE, f"cannot connect to {where}: {reason}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return failed(proxy, FailureKind.BAD_CONTENT, f"body from {where} was cut short")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return failed(proxy, FailureKind.UNREACHABLE, f"{where} closed the connection")
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        detail = redact(str(exc)) or exc.__class__.__name__
        return failed(proxy, FailureKind.UNREACHABLE, f"connection to {where} failed: {detail}")
    detail = redact(str(exc))[:200] or exc.__class__.__name__
    return failed(proxy, FailureKind.PROTOCOL, f"unusable answer from {where}: {detail}")


def status_error(proxy: str, status: int, headers: Mapping[str, str], what: str) -> UpstreamError:
    """The domain error for an HTTP status that is not the expected success."""
    if status in (404, 403):
        return not_found(proxy, f"{what}: not found ({status})")
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        hint = f", retry after {retry_after} s" if retry_after is not None else ""
        return failed(
            proxy, FailureKind.RATE_LIMITED, f"{what}: rate limited (429){hint}", retry_after=retry_after
        )
    if 500 <= status <= 599:
        return failed(proxy, FailureKind.SERVER_ERROR, f"{what}: server error ({status})")
    if status == 401:
        return failed(proxy, FailureKind.CREDENTIALS_REJECTED, f"{what}: authentication refused (401)")
    return failed(proxy, FailureKind.PROTOCOL, f"{what}: unexpected status {status}")
