"""Test credentials: a self-signed TLS certificate (``cryptography``) and htpasswd lines (``bcrypt``).

CNCF Distribution's htpasswd backend accepts bcrypt hashes only, hence ``bcrypt`` rather than
``crypt``/MD5. ``make_self_signed`` writes ``cert.pem``/``key.pem`` for a server and a ``certs.d``-style
directory holding ``ca.crt`` for ``skopeo --cert-dir`` / ``podman --cert-dir``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate (self-signed, so it is its own CA), its key, and a client cert dir."""

    cert: Path
    key: Path
    cert_dir: Path  # holds ca.crt: pass as --cert-dir / --src-cert-dir / --dest-cert-dir

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts exactly this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_self_signed(directory: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """Write a one-day self-signed EC certificate valid for ``hosts`` (IP addresses and DNS names)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cargohold test")])
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_dir = directory / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(cert_pem)
    return TlsFiles(cert_path, key_path, cert_dir)


def htpasswd_line(username: str, password: str) -> str:
    """``user:$2b$…`` as Distribution's htpasswd auth expects (bcrypt, cost 5 to keep tests fast)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{username}:{hashed}"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_chain(
    directory: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost"), *, label: str = "cargohold test"
) -> TlsFiles:
    """A root CA, an intermediate it signs, and a server certificate the intermediate signs for ``hosts``:
    ``cert`` holds the server certificate followed by the intermediate (a chain, as operators get them from
    a CA), ``cert_dir/ca.crt`` the root only. ``label`` names the certificates (their common names start
    with it), so a test can tell which one a server presents."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key, middle_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _issue(f"{label} root", root_key, _name(f"{label} root"), root_key, ca=True)
    middle = _issue(f"{label} intermediate", middle_key, root.subject, root_key, ca=True)
    leaf = _issue(f"{label} server", leaf_key, middle.subject, middle_key, ca=False, hosts=hosts)
    pem = serialization.Encoding.PEM
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(leaf.public_bytes(pem) + middle.public_bytes(pem))
    key_path.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_dir = directory / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(root.public_bytes(pem))
    return TlsFiles(cert_path, key_path, cert_dir)
