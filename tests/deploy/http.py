"""Plain HTTP calls of the deploy tests to a cargohold on 127.0.0.1, and waiting for its ``/readyz``."""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pytest

READY_TIMEOUT_S = 120


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def call(url: str, password: str | None = None, *, method: str = "GET", data: bytes | None = None) -> Answer:
    """``method url`` (an http://127.0.0.1 URL), as ``admin`` with Basic auth when ``password`` is given."""
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the test's own http URLs
    if password is not None:
        credentials = base64.b64encode(f"admin:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {credentials}")
    if data is not None:
        request.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


def push_blob(base_url: str, image: str, data: bytes, password: str) -> str:
    """Upload ``data`` as a blob of ``image`` (POST, then PUT with the digest); return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = call(f"{base_url}/v2/{image}/blobs/uploads/", password, method="POST")
    assert started.status == 202, started
    location = started.headers["Location"]
    location = location if location.startswith("http") else base_url + location
    separator = "&" if "?" in location else "?"
    done = call(f"{location}{separator}digest={digest}", password, method="PUT", data=data)
    assert done.status == 201, done
    return digest


def wait_ready(base_url: str, alive: Callable[[], bool], describe: Callable[[], str]) -> None:
    """Poll ``/readyz`` until it answers 200 (a readiness loop with a deadline); fail as soon as ``alive()``
    says the server is gone, with ``describe()`` in the message."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if call(f"{base_url}/readyz").status == 200:
                return
        except OSError:
            pass  # not listening yet
        if not alive():
            pytest.fail(f"gone before it was ready: {describe()}")
        time.sleep(0.25)
    pytest.fail(f"/readyz did not answer 200 within {READY_TIMEOUT_S}s: {describe()}")
