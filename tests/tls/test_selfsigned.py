"""The generated lab certificate: a CA made once and never replaced, a server certificate it signs for the
names asked for, kept while it still fits and issued again (by the same CA) when the names change; keys are
owner-only; and a context that TLS clients trusting the CA accept."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509

from cargohold.tls import ensure_self_signed, load_server_context


def names_of(path: Path) -> list[str]:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in san]


def test_made_once_kept_and_reissued_by_the_same_ca_when_the_names_change(tmp_path: Path) -> None:
    made = ensure_self_signed(tmp_path, ["registry.lab", "127.0.0.1"])
    assert made.issued
    assert names_of(made.certificate) == ["registry.lab", "127.0.0.1"]
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0
    assert made.key.stat().st_mode & 0o077 == 0
    ca, certificate = made.ca_certificate.read_bytes(), made.certificate.read_bytes()

    again = ensure_self_signed(tmp_path, ["registry.lab", "127.0.0.1"])
    assert not again.issued
    assert made.certificate.read_bytes() == certificate

    moved = ensure_self_signed(tmp_path, ["mirror.lab"])
    assert moved.issued
    assert names_of(moved.certificate) == ["mirror.lab"]
    assert made.ca_certificate.read_bytes() == ca  # clients that trust the CA keep trusting the server


def test_a_client_trusting_the_ca_accepts_the_server(tmp_path: Path) -> None:
    made = ensure_self_signed(tmp_path, ["localhost", "127.0.0.1"])
    server_context = load_server_context(made.certificate, made.key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            connection, _ = listener.accept()
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)

        thread = threading.Thread(target=accept)
        thread.start()
        client = ssl.create_default_context(cafile=str(made.ca_certificate))
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(b"x")
        thread.join(10)
