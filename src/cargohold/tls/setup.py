"""Which certificate a server with ``tls:`` settings serves: the configured pair, or the self-signed one made
(once) for the names the server is reached by; checked to be usable before anything starts."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import urlsplit

from cargohold.config import Settings
from cargohold.errors import ConfigError
from cargohold.tls.context import load_server_context
from cargohold.tls.selfsigned import ensure_self_signed

log = logging.getLogger("cargohold")


def prepare_tls(settings: Settings) -> tuple[Path, Path] | None:
    """The certificate and key to serve with (generated for ``self_signed``), checked to be usable; None
    without TLS. ConfigError when the files cannot be used."""
    if not settings.tls.enabled:
        return None
    if settings.tls.self_signed:
        names = tls_names(settings)
        directory = settings.data_dir.resolve() / "tls"
        try:
            made = ensure_self_signed(directory, names)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"tls.self_signed: cannot make or read the certificate in {directory}: {exc}"
            ) from None
        where = urlsplit(settings.public_url).netloc
        log.info(
            "TLS with a self-signed certificate for %s (%s). Clients trust it with the CA %s: copy it to "
            "/etc/docker/certs.d/%s/ca.crt (Docker) and /etc/containers/certs.d/%s/ca.crt (podman, skopeo, "
            "CRI-O)",
            ", ".join(names),
            "issued now" if made.issued else "kept from before",
            made.ca_certificate,
            where,
            where,
        )
        pair = (made.certificate, made.key)
    else:
        assert settings.tls.certificate is not None
        assert settings.tls.key is not None
        pair = (settings.tls.certificate.resolve(), settings.tls.key.resolve())
    load_server_context(*pair)  # a bad file is a start-up error here, before any worker starts
    return pair


def tls_names(settings: Settings) -> list[str]:
    """The names a self-signed certificate is issued for: the public URL's host, the listening address
    (every local name when it is a wildcard) and localhost."""
    names = [urlsplit(settings.public_url).hostname or "localhost"]
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - only naming the wildcard, not binding it
        names += [socket.gethostname(), socket.getfqdn()]
    else:
        names.append(host)
    names += ["localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(name for name in names if name))
