"""SIGTERM stops a server gracefully: it stops accepting at once (new connections are refused), a blob
download in progress goes on to its last byte, a cache download in progress is finished and kept whole, and
the server exits 0; with workers the parent passes the signal on and waits for them, also when Ctrl-C has
reached the workers themselves. What cannot finish
within ``shutdown_timeout_seconds`` is cut off and abandoned: the process still exits 0 and no half-written
file is kept. The upstreams that pace or stall their bodies are fakes on purpose
(tests/support/fake_upstream.py): a real registry cannot be told to be slow."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_upstream import REQUEST_HEAD, RawUpstream
from tests.support.fixtures import CargoholdFactory
from tests.support.server import CargoholdServer

BIG = 64 * 1024 * 1024  # well beyond what the socket buffers hold, so the server is still sending
DEADLINE_S = 60.0


def push_blob(server: CargoholdServer, name: str, data: bytes) -> str:
    """Push ``data`` as a blob of ``test/<name>`` (POST, then PUT with the whole body); its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", f"/v2/test/{name}/blobs/uploads/", headers=server.admin_authorization())
    started = connection.getresponse()
    started.read()
    assert started.status == 202
    location = started.headers["Location"]
    separator = "&" if "?" in location else "?"
    headers = {**server.admin_authorization(), "Content-Type": "application/octet-stream"}
    connection.request("PUT", f"{location}{separator}digest={digest}", body=data, headers=headers)
    finished = connection.getresponse()
    finished.read()
    assert finished.status == 201, finished.status
    connection.close()
    return digest


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S:.0f} s: {what}"
        time.sleep(0.05)


def exit_status(server: CargoholdServer) -> int:
    return server.service.process.wait(DEADLINE_S)


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def stop(server: CargoholdServer, how: str) -> None:
    """SIGTERM to the server, or Ctrl-C in a terminal: SIGINT to the parent and its workers at once."""
    pid = server.service.process.pid
    if how == "ctrl-c":
        for process in [pid, *children(pid)]:
            os.kill(process, signal.SIGINT)
    else:
        os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize(
    ("workers", "how"),
    [(1, "sigterm"), (2, "sigterm"), (2, "ctrl-c")],
    ids=["one", "workers", "workers-ctrl-c"],
)
def test_a_download_in_progress_completes_while_new_connections_are_refused(
    cargohold_factory: CargoholdFactory, workers: int, how: str
) -> None:
    server = cargohold_factory(extra_config={"workers": workers})
    data = os.urandom(BIG)
    digest = push_blob(server, "big", data)

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("GET", f"/v2/test/big/blobs/{digest}")
    response = connection.getresponse()
    assert response.status == 200
    received = hashlib.sha256(first := response.read(1024 * 1024))
    count = len(first)

    stop(server, how)
    wait_until(lambda: refuses_connections(server.port), "new connections are refused")
    while chunk := response.read(1024 * 1024):
        received.update(chunk)
        count += len(chunk)
    connection.close()

    assert count == BIG
    assert "sha256:" + received.hexdigest() == digest
    assert exit_status(server) == 0
    assert "stopped" in server.service.log_text()


def test_a_download_that_outlasts_the_drain_timeout_is_cut_off_and_the_server_exits(
    cargohold_factory: CargoholdFactory,
) -> None:
    server = cargohold_factory(extra_config={"shutdown_timeout_seconds": 1})
    digest = push_blob(server, "big", os.urandom(BIG))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("GET", f"/v2/test/big/blobs/{digest}")
    response = connection.getresponse()
    count = len(response.read(1024 * 1024))  # then the client stops reading: the server cannot finish

    os.kill(server.service.process.pid, signal.SIGTERM)
    assert exit_status(server) == 0
    while chunk := response.read(1024 * 1024):  # what the socket buffers still held, then the end
        count += len(chunk)
    connection.close()
    assert count < BIG


# --- cache downloads in progress ------------------------------------------------------------------------

LAYER = os.urandom(8 * 1024 * 1024)  # above the size cargohold verifies before sending (streamed)
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()


def paced(body: bytes, *, chunk: int, every: float, stall_after: int | None = None) -> Any:
    """A blob answered ``chunk`` bytes every ``every`` seconds (fast enough for the throughput floor); with
    ``stall_after``, nothing more after that many bytes until the test ends."""

    async def script(writer: asyncio.StreamWriter, released: asyncio.Event) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        if REQUEST_HEAD.get().startswith(b"HEAD "):
            return
        for start in range(0, len(body), chunk):
            if stall_after is not None and start >= stall_after:
                await released.wait()
                return
            writer.write(body[start : start + chunk])
            await writer.drain()
            await asyncio.sleep(every)  # the pace of the body, not a synchronisation

    return script


def hub(url: str) -> list[dict[str, Any]]:
    return [{"name": "hub", "visibility": "public", "proxies": [{"name": "slow", "url": url}]}]


KEPT = ("cargohold.db", "secret.key", "gc.lock")


def leftovers(server: CargoholdServer) -> list[Path]:
    """Files in the data directory other than the database, the key, the stored blobs and the small
    ``fetch/*.state`` record a download leaves to tell other workers how it ended
    (``cargohold.proxy.election``): what a cut-off download could leave half-written."""
    return sorted(
        path
        for path in server.data_dir.rglob("*")
        if path.is_file()
        and not path.name.startswith(KEPT)
        and not path.is_relative_to(server.data_dir / "blobs")
        and not (path.parent.name == "fetch" and path.suffix == ".state")
    )


def stored(server: CargoholdServer) -> list[Path]:
    return sorted(path for path in (server.data_dir / "blobs").rglob("*") if path.is_file())


def start_download(server: CargoholdServer) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("GET", f"/v2/hub/team/app/blobs/{LAYER_DIGEST}")
    return connection.getresponse()


async def test_a_cache_download_in_progress_is_finished_and_kept(cargohold_factory: CargoholdFactory) -> None:
    async with RawUpstream(paced(LAYER, chunk=256 * 1024, every=0.1)) as upstream:
        server = await asyncio.to_thread(cargohold_factory, hub(upstream.url))
        response = await asyncio.to_thread(start_download, server)
        assert response.status == 200
        first = await asyncio.to_thread(response.read, 64 * 1024)
        os.kill(server.service.process.pid, signal.SIGTERM)
        rest = await asyncio.to_thread(response.read)
        assert first + rest == LAYER
        assert await asyncio.to_thread(exit_status, server) == 0
    assert [path.name for path in stored(server)] == [LAYER_DIGEST.split(":")[1]]
    assert leftovers(server) == []


async def test_a_cache_download_that_cannot_finish_is_abandoned_without_a_trace(
    cargohold_factory: CargoholdFactory,
) -> None:
    stalls = paced(LAYER, chunk=256 * 1024, every=0.05, stall_after=1024 * 1024)
    async with RawUpstream(stalls) as upstream:
        server = await asyncio.to_thread(
            cargohold_factory, hub(upstream.url), extra_config={"shutdown_timeout_seconds": 1}
        )
        response = await asyncio.to_thread(start_download, server)
        assert response.status == 200
        assert await asyncio.to_thread(response.read, 64 * 1024) == LAYER[: 64 * 1024]
        assert leftovers(server) != []  # the download's spool, which must not outlive it
        os.kill(server.service.process.pid, signal.SIGTERM)
        assert await asyncio.to_thread(exit_status, server) == 0
    assert stored(server) == []
    assert leftovers(server) == []
