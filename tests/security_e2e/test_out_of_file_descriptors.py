"""A server that runs out of file descriptors says so and recovers: requests that need a descriptor get
503 with Retry-After (not 500 with a traceback), the log says it once per interval rather than a traceback
per refused connection, and once connections close everything works again. The server runs under
``prlimit --nofile`` so that a few hundred idle connections exhaust it."""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from tests.support.accounts import call
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

DESCRIPTORS = 256
BLOB = b"a blob to read from disk " * 1000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


@contextmanager
def idle_connections(server: CargoholdServer, count: int) -> Iterator[int]:
    """Open ``count`` TCP connections that send nothing; yields how many the kernel let us open."""
    with ExitStack() as stack:
        opened = 0
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", server.service.port), timeout=5)
            stack.callback(connection.close)
            opened += 1
        yield opened


def blob_status(connection: http.client.HTTPConnection) -> tuple[int, dict[str, str], bytes]:
    connection.request("GET", f"/v2/test/files/blobs/{DIGEST}")
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_running_out_of_descriptors_answers_503_and_logs_once_then_recovers(
    cargohold_factory: CargoholdFactory,
) -> None:
    server = cargohold_factory(wrapper=["prlimit", f"--nofile={DESCRIPTORS}"])
    pushed = call(
        f"{server.url}/v2/test/files/blobs/uploads/?digest={DIGEST}",
        method="POST",
        data=BLOB,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )
    assert pushed.status == 201
    keep_alive = http.client.HTTPConnection("127.0.0.1", server.service.port, timeout=30)
    assert blob_status(keep_alive)[0] == 200

    with idle_connections(server, DESCRIPTORS + 50):
        deadline = time.monotonic() + 30
        while True:  # the server accepts what it can; wait until it has tried (and failed) to accept more
            if "out of file descriptors" in server.service.log_text() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        status, headers, body = blob_status(keep_alive)
        assert status == 503, body
        assert int(headers["Retry-After"]) >= 1
        assert b"UNAVAILABLE" in body

    log = server.service.log_text()
    assert "Traceback" not in log
    assert log.count("out of file descriptors") <= 2
    assert blob_status(keep_alive)[0] == 200
    assert call(f"{server.url}/v2/").status in (200, 401)
