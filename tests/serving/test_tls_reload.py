"""Certificates are replaced while the server runs: SIGHUP (to the only process, or to the parent of
workers, which passes it on) or a change of the files makes new connections get the new certificate, while a
keep-alive connection opened before goes on working with the old one; a broken file at reload keeps the
certificate in use and the log says why."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer
from tests.support.tls import TlsFiles, make_chain

DEADLINE_S = 20.0


def trusting(*files: TlsFiles, directory: Path) -> ssl.SSLContext:
    """A client context that trusts the roots of all ``files``."""
    bundle = directory / "bundle.pem"
    bundle.write_bytes(b"".join((f.cert_dir / "ca.crt").read_bytes() for f in files))
    return ssl.create_default_context(cafile=str(bundle))


def common_name(certificate: Mapping[str, object]) -> str:
    subject = certificate["subject"]
    assert isinstance(subject, tuple)
    return str(next(value for rdn in subject for key, value in rdn if key == "commonName"))


def presented(server: CargoholdServer, context: ssl.SSLContext) -> str:
    """The common name of the certificate a new connection gets."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        certificate = tls.getpeercert()
        assert certificate is not None
        return common_name(certificate)


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S:.0f} s: {what}"
        time.sleep(0.1)


def install(files: TlsFiles, live: Path) -> None:
    """Put ``files`` where the server reads its certificate, as an operator's renewal would."""
    shutil.copyfile(files.key, live / "key.pem")
    shutil.copyfile(files.cert, live / "cert.pem")


def start(
    factory: CargoholdFactory, tmp_path: Path, *, workers: int = 1, watch: float = 0
) -> tuple[CargoholdServer, TlsFiles]:
    """A server whose certificate files live in ``tmp_path/live``, serving the "first" chain."""
    first = make_chain(tmp_path / "first", label="first")
    live = tmp_path / "live"
    live.mkdir()
    install(first, live)
    tls = {"certificate": str(live / "cert.pem"), "key": str(live / "key.pem"), "watch_seconds": watch}
    return factory(extra_config={"tls": tls, "workers": workers}, https=True), first


def reloaded_by(server: CargoholdServer) -> set[str]:
    """The process ids that logged a successful reload."""
    log = server.service.log_text().splitlines()
    return {line.split("[", 1)[1].split("]", 1)[0] for line in log if "TLS certificate reloaded" in line}


def test_sighup_reloads_for_new_connections_while_an_open_one_keeps_working(
    cargohold_factory: CargoholdFactory, tmp_path: Path
) -> None:
    server, first = start(cargohold_factory, tmp_path)  # no file watching: only the signal reloads
    second = make_chain(tmp_path / "second", label="second")
    context = trusting(first, second, directory=tmp_path)
    assert presented(server, context) == "first server"
    kept = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    kept.request("GET", "/v2/")
    assert kept.getresponse().read() is not None
    sock = kept.sock
    assert isinstance(sock, ssl.SSLSocket)

    install(second, tmp_path / "live")
    os.kill(server.service.process.pid, signal.SIGHUP)
    eventually(lambda: presented(server, context) == "second server", "a new connection gets the new one")

    kept.request("GET", "/v2/")
    assert kept.getresponse().status == 401  # answered on the same connection, with the old certificate
    assert kept.sock is sock
    peer = sock.getpeercert()
    assert peer is not None
    assert common_name(peer) == "first server"
    kept.close()

    # a broken certificate at reload: the one in use stays, and the log says why
    (tmp_path / "live" / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nbroken\n")
    os.kill(server.service.process.pid, signal.SIGHUP)
    eventually(lambda: "not reloaded" in server.service.log_text(), "the failed reload is logged")
    assert presented(server, context) == "second server"
    assert server.service.running
    assert server.stop() == 0


def test_changed_files_are_reloaded_without_a_signal(
    cargohold_factory: CargoholdFactory, tmp_path: Path
) -> None:
    server, first = start(cargohold_factory, tmp_path, watch=0.2)
    second = make_chain(tmp_path / "second", label="second")
    context = trusting(first, second, directory=tmp_path)
    assert presented(server, context) == "first server"
    install(second, tmp_path / "live")
    eventually(lambda: presented(server, context) == "second server", "the changed files are served")


def test_the_parent_of_workers_passes_sighup_to_every_worker(
    cargohold_factory: CargoholdFactory, tmp_path: Path
) -> None:
    server, _ = start(cargohold_factory, tmp_path, workers=2)
    second = make_chain(tmp_path / "second", label="second")
    context = trusting(second, directory=tmp_path)
    install(second, tmp_path / "live")
    os.kill(server.service.process.pid, signal.SIGHUP)
    eventually(lambda: len(reloaded_by(server)) == 2, "both workers reload")
    for _ in range(10):  # whichever worker takes the connection presents the new certificate
        assert presented(server, context) == "second server"
    assert server.stop() == 0
