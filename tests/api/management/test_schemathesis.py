"""schemathesis against the OpenAPI document the server serves: for every operation, generated requests
(bounded and derandomised, so the run is the same every time and takes well under two minutes) must never
get a server error, and every answer must have a documented status, content type, headers and a body
that matches its schema.

The server runs in-process on a real socket, in a thread with its own event loop (schemathesis speaks
blocking ``requests``). Every request carries the global admin's access token. Half the generated
repository names are replaced by ``seeded`` (a repository with two proxies and an image), half the user
names by ``seeded-user`` (who holds a grant on it and an access token ``seeded-token``), and ``managed`` is
declared in the config, so generated requests reach real resources and the 409 paths, not only 404s. Every
proxy URL a request carries is pointed at a closed local port, so a proxy test never waits on the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
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
from cargohold.app import create_app
from cargohold.registry.values import URL_PATTERN

from .conftest import ADMIN, ADMIN_PASSWORD, management_settings

SEEDED = "seeded"
SEEDED_USER = "seeded-user"
SEEDED_TOKEN = "seeded-token"
MAX_EXAMPLES = 25
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


@dataclass(frozen=True)
class Served:
    url: str
    headers: dict[str, str]
    """The global admin's credentials (an access token)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, closed_url: str) -> Iterator[Served]:
    with ServedApp(tmp_path_factory.mktemp("schemathesis")) as app:
        admin = (ADMIN, ADMIN_PASSWORD)
        token = requests.post(
            f"{app.url}/api/v1/users/{ADMIN}/tokens", json={"name": "schemathesis"}, auth=admin, timeout=30
        )
        assert token.status_code == 201, token.text
        headers = {"Authorization": f"Bearer {token.json()['secret']}"}
        proxies = [{"name": "one", "url": closed_url}, {"name": "two", "url": closed_url, "password": "pw"}]
        for path, body in [
            ("repositories", {"name": SEEDED, "proxies": proxies}),
            ("users", {"name": SEEDED_USER, "password": "seeded-password"}),
            (f"users/{SEEDED_USER}/tokens", {"name": SEEDED_TOKEN}),
        ]:
            reply = requests.post(f"{app.url}/api/v1/{path}", json=body, headers=headers, timeout=30)
            assert reply.status_code == 201, reply.text
        grant = requests.put(
            f"{app.url}/api/v1/users/{SEEDED_USER}/grants/{SEEDED}",
            json={"permission": "admin"},
            headers=headers,
            timeout=30,
        )
        assert grant.status_code == 200, grant.text
        yield Served(app.url, headers)


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
    """Point half the generated repository and user names at the seeded ones (deterministically), and every
    proxy URL at a closed local port."""
    parameters = case.path_parameters or {}
    repo = parameters.get("repo")
    if isinstance(repo, str):
        digest = hashlib.sha256(repo.encode()).digest()
        if digest[0] % 2 == 0:
            parameters["repo"] = SEEDED
            if "proxy" in parameters and digest[1] % 2 == 0:
                parameters["proxy"] = "one"
    user = parameters.get("user")
    if isinstance(user, str):
        digest = hashlib.sha256(user.encode()).digest()
        if digest[0] % 2 == 0:
            parameters["user"] = SEEDED_USER
            if "token" in parameters and digest[1] % 2 == 0:
                parameters["token"] = SEEDED_TOKEN
    if isinstance(case.body, dict | list):
        case.body = _local_urls(case.body, closed_url)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_answers_match_the_document(
    served: Served, closed_url: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/api/v1/openapi.json")
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
            case.call_and_validate(base_url=served.url, headers=served.headers, checks=checks, timeout=30)

        try:
            run()
        except Exception as error:  # every operation runs; all failures are reported together
            failures.append(f"{operation.label}: {error}")
        exercised += 1
    # Negative mode reaches every operation too: each declares the Authorization header (its security), which
    # negative cases break; the caller's admin token replaces it, so the path names and bodies are what is
    # left to be wrong.
    assert exercised == len(OPERATIONS), exercised
    assert not failures, "\n\n".join(failures)
