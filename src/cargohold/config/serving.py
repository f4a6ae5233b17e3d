"""How the server process meets the network: the ``tls:`` section and the ``trusted_proxies`` list.

``TlsSettings`` names a PEM certificate (a chain is fine) and its key, or asks for a generated
``self_signed`` one; nothing here reads the files (``cargohold.tls`` does, at start and at every reload).
``parse_trusted_proxies`` turns addresses and CIDRs into networks, refusing host bits and garbage with a
message that names the entry.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TlsSettings(BaseModel):
    """Native TLS (the ``tls:`` section): ``certificate`` + ``key``, or ``self_signed: true``, or neither."""

    model_config = ConfigDict(extra="forbid")

    certificate: Path | None = None
    """PEM certificate, the server's first and then any intermediates."""
    key: Path | None = None
    """PEM private key of the certificate (unencrypted)."""
    self_signed: bool = False
    """Generate a CA and a server certificate once, kept under ``<data_dir>/tls/``."""
    watch_seconds: float = Field(default=5.0, ge=0, le=86400)
    """How often the certificate files are checked for a change to reload (0: only on SIGHUP)."""

    @model_validator(mode="after")
    def _one_source(self) -> TlsSettings:
        if self.certificate is not None:
            self.certificate = self.certificate.expanduser()
        if self.key is not None:
            self.key = self.key.expanduser()
        if self.self_signed and (self.certificate or self.key):
            raise ValueError("self_signed: true and a certificate/key exclude each other")
        if (self.certificate is None) != (self.key is None):
            raise ValueError("certificate and key go together: give both")
        return self

    @property
    def enabled(self) -> bool:
        """True when the server speaks HTTPS."""
        return self.self_signed or self.certificate is not None


def parse_trusted_proxies(value: object) -> list[Network]:
    """Networks from a list (or a comma-separated string) of addresses and CIDRs; ValueError names the bad
    entry."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("must be a list of addresses or CIDRs")
    networks: list[Network] = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address or a CIDR such as 10.0.0.0/8") from None
    return networks
