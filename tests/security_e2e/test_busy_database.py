"""A SQLite database that another process keeps locked answers 503 with Retry-After after a short wait, not a
500 after 30 s, while reads go on; once the lock is let go, writes work again. The lock is held by this test
through Python's sqlite3 on the server's own database file."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.accounts import Reply, call
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer


@contextmanager
def write_lock(server: CargoholdServer) -> Iterator[None]:
    connection = sqlite3.connect(server.data_dir / "cargohold.db", timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def push(server: CargoholdServer, data: bytes) -> Reply:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return call(
        f"{server.url}/v2/test/app/blobs/uploads/?digest={digest}",
        method="POST",
        data=data,
        headers={**server.admin_authorization(), "Content-Type": "application/octet-stream"},
    )


def test_a_locked_database_answers_503_with_retry_after_and_reads_go_on(
    cargohold_factory: CargoholdFactory,
) -> None:
    server = cargohold_factory()
    assert push(server, b"before the lock").status == 201
    readable = "sha256:" + hashlib.sha256(b"before the lock").hexdigest()

    with write_lock(server):
        refused = push(server, b"while locked")
        read = call(f"{server.url}/v2/test/app/blobs/{readable}")
    assert refused.status == 503
    assert refused.error_codes() == ["UNAVAILABLE"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert read.status == 200
    assert read.body == b"before the lock"
    assert push(server, b"after the lock").status == 201
    assert "unhandled error" not in server.service.log_text()
