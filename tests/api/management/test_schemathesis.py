"""schemathesis against the OpenAPI document the server serves: for every operation, generated requests
(bounded and derandomised, so the run is the same every time and takes well under two minutes) must never
get a server error, and every answer must have a documented status, content type, headers and a body
that matches its schema.

The server runs in-process on a real socket, in a thread with its own event loop (schemathesis speaks
blocking ``requests``). Half the generated repository names are replaced by ``seeded`` (a repository with
two proxies and an image), and ``managed`` is declared in the config, so generated requests reach real
resources and the 409 paths, not only 404s. Every proxy URL a request carries is pointed at a closed local
port, so a proxy test never waits on the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.support.processes import free_port

from cargohold.api.management.routes import OPERATIONS
from cargohold.api.management.schemas import URL_PATTERN
from cargohold.app import create_app

from .conftest import management_settings

SEEDED = "seeded"
MAX_EXAMPLES = 25
WITH_BODY = {f"{op.method} {op.path}" for op in OPERATIONS if op.body is not None}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
]


class ServedApp:
    """A cargohold app on 127.0.0.1 served by a background thread's event loop."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="served-app", daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> ServedApp:
        self._thread.start()
        self._runner = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(60)
        return self

    async def _start(self) -> web.AppRunner:
        runner = web.AppRunner(await create_app(management_settings(self._data_dir)), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    def __exit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)
        self._loop.close()


@pytest.fixture(scope="module")
def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, closed_url: str) -> Iterator[str]:
    with ServedApp(tmp_path_factory.mktemp("schemathesis")) as app:
        proxies = [{"name": "one", "url": closed_url}, {"name": "two", "url": closed_url, "password": "pw"}]
        reply = requests.post(
            f"{app.url}/api/v1/repositories", json={"name": SEEDED, "proxies": proxies}, timeout=30
        )
        assert reply.status_code == 201, reply.text
        yield app.url


def _local_urls(value: Any, url: str) -> Any:
    """``value`` with every valid ``url`` field replaced by ``url`` (invalid ones stay invalid)."""
    if isinstance(value, dict):
        return {
            key: url if key == "url" and isinstance(item, str) and re.fullmatch(URL_PATTERN, item) else
            _local_urls(item, url)
            for key, item in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_local_urls(item, url) for item in value]
    return value


def _steer(case: schemathesis.Case, closed_url: str) -> None:
    """Point half the generated repository names at the seeded repository (deterministically), and every
    proxy URL at a closed local port."""
    parameters = case.path_parameters or {}
    repo = parameters.get("repo")
    if isinstance(repo, str):
        digest = hashlib.sha256(repo.encode()).digest()
        if digest[0] % 2 == 0:
            parameters["repo"] = SEEDED
            if "proxy" in parameters and digest[1] % 2 == 0:
                parameters["proxy"] = "one"
    if isinstance(case.body, dict | list):
        case.body = _local_urls(case.body, closed_url)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_answers_match_the_document(
    served: str, closed_url: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{served}/api/v1/openapi.json")
    failures: list[str] = []
    exercised = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: schemathesis.Case) -> None:
            _steer(case, closed_url)
            checks = CHECKS if mode is GenerationMode.POSITIVE else [*CHECKS, negative_data_rejection]
            case.call_and_validate(base_url=served, checks=checks, timeout=30)

        try:
            run()
        except Unsatisfiable:
            # Negative mode: an operation whose only inputs are path names has no invalid request to make
            # (an empty name cannot be put in a path); it runs in positive mode.
            assert mode is GenerationMode.NEGATIVE, operation.label
            assert operation.label not in WITH_BODY, operation.label
            continue
        except Exception as error:  # every operation runs; all failures are reported together
            failures.append(f"{operation.label}: {error}")
        exercised += 1
    assert exercised == (len(OPERATIONS) if mode is GenerationMode.POSITIVE else len(WITH_BODY)), exercised
    assert not failures, "\n\n".join(failures)
