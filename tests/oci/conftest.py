"""Fixtures of the OCI conformance suite: a cargohold app served in-process on a real socket, with two
repositories (``test`` and ``other``) and no default repository, wrapped in the checking ``Registry``
client of ``helpers``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cargohold.app import create_app
from cargohold.config import RepositoryConfig, Settings

from .helpers import Registry, random_image


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    settings = Settings(
        listen="127.0.0.1:0",
        data_dir=tmp_path,
        repositories=[RepositoryConfig(name="test"), RepositoryConfig(name="other")],
    )
    app = await create_app(settings)
    async with TestClient(TestServer(app)) as client:
        reg = Registry(client)
        yield reg
    # The suite-wide rule, checked once more over the whole conversation: no request ever got a 5xx.
    failures = [str(reply) for reply in reg.history if reply.status >= 500]
    assert not failures, failures


@pytest.fixture
def name() -> str:
    """A fresh image name inside the ``test`` repository."""
    return random_image()
