"""The lab certificate of ``tls: {self_signed: true}``: a private CA made once, and a server certificate it
signs for the names the server is reached by, both kept in ``<data_dir>/tls/``.

The CA (``ca.crt``, ``ca.key``) lasts ten years and is never replaced, so clients that trusted it once keep
trusting the server. The server certificate (``server.crt``, ``server.key``) is issued again, by the same
CA, when it is missing, does not name every host asked for, or expires within ``RENEW_BEFORE``. Keys are EC
P-256 and written owner-only; every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS: Final = 3650
SERVER_DAYS: Final = 397  # what browsers accept at most for a server certificate
RENEW_BEFORE: Final = datetime.timedelta(days=30)


@dataclass(frozen=True)
class SelfSigned:
    """Where the generated files are, and whether this call (re)issued the server certificate."""

    ca_certificate: Path
    certificate: Path
    key: Path
    issued: bool


def ensure_self_signed(directory: Path, names: Sequence[str]) -> SelfSigned:
    """The CA and a server certificate for ``names`` (DNS names and IP addresses) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not the EC key cargohold generated")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key)
        _write(ca_key_path, _key_pem(ca_key), private=True)
        _write(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
        for stale in (cert_path, key_path):  # signed by a CA that is gone
            stale.unlink(missing_ok=True)
    wanted = _alt_names(names)
    issued = False
    if not _still_good(cert_path, key_path, ca_cert, wanted):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _make_server(key, ca_key, ca_cert, wanted)
        _write(key_path, _key_pem(key), private=True)
        _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
        issued = True
    return SelfSigned(ca_cert_path, cert_path, key_path, issued)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


_CA_USAGE: Final = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def _make_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cargohold self-signed CA")])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_server(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[x509.GeneralName],
) -> x509.Certificate:
    now = _now()
    first = names[0].value if names else "cargohold"
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(first))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in dict.fromkeys(n.strip("[]").lower() for n in names if n.strip("[]")):
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _still_good(
    cert_path: Path, key_path: Path, ca_cert: x509.Certificate, wanted: list[x509.GeneralName]
) -> bool:
    """The kept server certificate is signed by this CA, names every wanted host and is not about to
    expire."""
    if not key_path.exists():
        return False
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        present = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    return (
        certificate.issuer == ca_cert.subject
        and all(name in present for name in wanted)
        and certificate.not_valid_after_utc - _now() > RENEW_BEFORE
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
