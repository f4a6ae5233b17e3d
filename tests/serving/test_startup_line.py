"""The start-up line says where the data lives (an absolute path, even when given as a relative one) and
what the server listens on (scheme, host and port), once, and only when the socket accepts: a client that
connects the moment the line appears gets in at the first try, with one process or with workers."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import child_env, free_port
from tests.support.server import ADMIN_PASSWORD, cargohold_executable

LINE = re.compile(r"cargohold listening on (https?)://127\.0\.0\.1:(\d+) \(data (/\S+), (\d+) workers?\)")


@pytest.mark.parametrize(
    ("workers", "tls"), [(1, False), (2, False), (1, True)], ids=["one-process", "two-workers", "https"]
)
def test_the_line_comes_once_the_socket_accepts_and_names_scheme_port_and_data(
    tmp_path: Path, workers: int, tls: bool
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    argv = [
        str(cargohold_executable()), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", "data",
        "--workers", str(workers), *(["--tls-self-signed"] if tls else []),
    ]  # fmt: skip
    env = child_env({"CARGOHOLD_ADMIN_PASSWORD": ADMIN_PASSWORD}, drop_prefixes=("CARGOHOLD_",))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not (found := LINE.search(log_path.read_text())):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # the first try, no retry
            pass
        scheme, listened, data, count = found.groups()
        assert (scheme, int(listened), int(count)) == ("https" if tls else "http", port, workers)
        assert Path(data) == (tmp_path / "data").resolve()
        assert len(LINE.findall(log_path.read_text())) == 1
    finally:
        process.terminate()
        assert process.wait(60) == 0
