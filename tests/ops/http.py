"""Plain HTTP GETs of the operations tests, and polling an answer until it is what a test waits for."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

POLL_DEADLINE_S = 20.0
POLL_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Answer:
    """Status, headers (lower-case names) and body of one response."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: Mapping[str, str] | None = None) -> Answer:
    """GET ``url``; an HTTP error status is an answer too."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - loopback test URLs
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return Answer(response.status, _lower(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, _lower(error.headers.items()), error.read())


def poll(url: str, until: Callable[[Answer], bool], *, deadline_s: float = POLL_DEADLINE_S) -> Answer:
    """GET ``url`` until ``until(answer)`` holds; fail the test with the last answer at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        answer = get(url)
        if until(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"GET {url}: still {answer.status} {answer.body[:500]!r} at the deadline")
        time.sleep(POLL_INTERVAL_S)


def _lower(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}
