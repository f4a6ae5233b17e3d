"""``/healthz`` and ``/readyz`` of a real ``cargohold serve``: ready normally; not ready (503, naming the
check) while its blob store cannot be written (the spool directory made immutable with ``chattr +i``, which
stops root too) or its PostgreSQL database is unreachable (the server reaches PostgreSQL through a TCP relay
the test cuts); ready again once the cause is gone. ``/healthz`` stays 200 throughout."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.ops.http import Answer, get, poll
from tests.support.fixtures import CargoholdFactory
from tests.support.postgres import postgres_url
from tests.support.server import CargoholdServer
from tests.support.tcp_relay import TcpRelay

CHECKS = {"database", "blob_store", "free_space"}


def ready(answer: Answer) -> bool:
    return answer.status == 200


def not_ready(answer: Answer) -> bool:
    return answer.status == 503


@contextmanager
def immutable(directory: Path) -> Iterator[None]:
    """Nobody, root included, may create files in ``directory`` meanwhile."""
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_ready_names_every_check(cargohold: CargoholdServer) -> None:
    answer = get(f"{cargohold.url}/readyz")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == CHECKS
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["free_space"]["free_bytes"] > 0
    assert get(f"{cargohold.url}/healthz").json() == {"status": "ok"}


def test_unwritable_blob_store_is_not_ready(cargohold: CargoholdServer) -> None:
    with immutable(cargohold.data_dir / "tmp"):
        answer = poll(f"{cargohold.url}/readyz", not_ready)
        body = answer.json()
        assert body["status"] == "not ready"
        assert body["checks"]["blob_store"]["ok"] is False
        assert "cannot write" in body["checks"]["blob_store"]["error"]
        assert str(cargohold.data_dir) not in answer.body.decode()  # no paths in a public answer
        assert body["checks"]["database"]["ok"] is True
        assert get(f"{cargohold.url}/healthz").status == 200
    assert poll(f"{cargohold.url}/readyz", ready).json()["checks"]["blob_store"] == {"ok": True}
    assert not list((cargohold.data_dir / "tmp").iterdir())  # the probe leaves nothing behind


@pytest.mark.postgres
async def test_unreachable_database_is_not_ready(cargohold_factory: CargoholdFactory) -> None:
    url = await postgres_url()
    parts = urlsplit(url)
    schema = f"readyz_{uuid.uuid4().hex}"
    with TcpRelay((parts.hostname or "127.0.0.1", parts.port or 5432)) as relay:
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{relay.port}" if credentials else f"127.0.0.1:{relay.port}"
        relayed = urlunsplit(parts._replace(netloc=netloc))
        try:
            server = cargohold_factory(extra_config={"database": relayed, "database_schema": schema})
            assert get(f"{server.url}/readyz").status == 200
            relay.cut()
            answer = poll(f"{server.url}/readyz", not_ready)
            body = answer.json()
            assert body["checks"]["database"]["ok"] is False
            assert body["checks"]["database"]["error"].startswith("the database did not answer")
            assert body["checks"]["blob_store"]["ok"] is True
            assert get(f"{server.url}/healthz").status == 200
        finally:
            connection = await asyncpg.connect(url, timeout=10)
            try:
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            finally:
                await connection.close()
