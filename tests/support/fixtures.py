"""pytest fixtures shared by the suite, re-exported by ``tests/conftest.py``.

* ``metadata`` is a migrated, empty metadata store on SQLite in ``tmp_path`` (every store of
  ``cargohold.metadata.sql.Metadata``); the contract suite overrides it with one per backend.
* ``cargohold_factory(repositories, **kw)`` starts a real ``cargohold serve`` (see ``tests.support.server``);
  ``cargohold`` is one such server with a public repository ``test``.
* ``distribution_factory(tls=…, credentials=…)`` starts a CNCF Distribution upstream.
* ``container_tools`` is an isolated skopeo/podman (see ``tests.support.clients``).

Every process started for a test is stopped at teardown, and its log is attached to the test report
(a "log: …" section shown with the failure) whenever the test fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from cargohold.metadata.sql import Metadata, open_metadata
from tests.support.clients import ContainerTools
from tests.support.daemons import Containerd, DockerDaemon, start_containerd, start_docker_daemon
from tests.support.distribution import DistributionRegistry, start_distribution
from tests.support.server import CargoholdServer, start_cargohold

TEST_REPOSITORIES: list[dict[str, Any]] = [{"name": "test", "visibility": "public", "proxies": []}]


class Reportable(Protocol):
    """A process a test started, whose log goes into the report when the test fails."""

    @property
    def name(self) -> str: ...

    @property
    def port(self) -> int: ...

    def describe(self) -> str: ...


SERVICES_KEY = pytest.StashKey[list[Reportable]]()


class CargoholdFactory(Protocol):
    """Signature of the ``cargohold_factory`` fixture."""

    def __call__(
        self,
        repositories: Sequence[Mapping[str, Any]] = ...,
        *,
        name: str = ...,
        extra_config: Mapping[str, Any] | None = ...,
        extra_args: Sequence[str] = ...,
        env: Mapping[str, str] | None = ...,
        wrapper: Sequence[str] = ...,
        https: bool = ...,
    ) -> CargoholdServer: ...


class DockerDaemonFactory(Protocol):
    """Signature of the ``docker_daemon_factory`` fixture."""

    def __call__(
        self, *, mirrors: Sequence[str] = ..., insecure_registries: Sequence[str] = ...
    ) -> DockerDaemon: ...


class DistributionFactory(Protocol):
    """Signature of the ``distribution_factory`` fixture."""

    def __call__(
        self,
        *,
        name: str = ...,
        tls: bool = ...,
        credentials: tuple[str, str] | None = ...,
        extra_config: Mapping[str, Any] | None = ...,
    ) -> DistributionRegistry: ...


@pytest.fixture
async def metadata(tmp_path: Path) -> AsyncIterator[Metadata]:
    opened = await open_metadata(f"sqlite:///{tmp_path}/cargohold.db")
    try:
        yield opened
    finally:
        await opened.close()


def _track(request: pytest.FixtureRequest, service: Reportable) -> None:
    request.node.stash.setdefault(SERVICES_KEY, []).append(service)


@pytest.fixture
def cargohold_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CargoholdFactory]:
    """Start cargohold servers on free ports; each gets its own config, data dir and log."""
    servers: list[CargoholdServer] = []
    counter = iter(range(1, 1000))

    def start(
        repositories: Sequence[Mapping[str, Any]] = TEST_REPOSITORIES,
        *,
        name: str = "",
        extra_config: Mapping[str, Any] | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
        https: bool = False,
    ) -> CargoholdServer:
        server = start_cargohold(
            tmp_path, repositories, name=name or f"cargohold-{next(counter)}", extra_config=extra_config,
            extra_args=extra_args, env=env, wrapper=wrapper, https=https,
        )  # fmt: skip
        servers.append(server)
        _track(request, server.service)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def cargohold(cargohold_factory: CargoholdFactory) -> CargoholdServer:
    """One cargohold server with a public repository ``test`` and no proxies."""
    return cargohold_factory()


@pytest.fixture
def distribution_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DistributionFactory]:
    """Start CNCF Distribution registries (optionally TLS and/or htpasswd) on free ports."""
    registries: list[DistributionRegistry] = []
    counter = iter(range(1, 1000))

    def start(
        *,
        name: str = "",
        tls: bool = False,
        credentials: tuple[str, str] | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> DistributionRegistry:
        registry = start_distribution(
            tmp_path, name=name or f"distribution-{next(counter)}", tls=tls, credentials=credentials,
            extra_config=extra_config,
        )  # fmt: skip
        registries.append(registry)
        _track(request, registry.service)
        return registry

    yield start
    for registry in registries:
        registry.stop()


@pytest.fixture
def container_tools(tmp_path: Path) -> Iterator[ContainerTools]:
    """skopeo and podman with private configuration and storage under the test's tmp dir."""
    tools = ContainerTools(tmp_path / "container-tools")
    yield tools
    tools.close()


@pytest.fixture
def docker_daemon_factory(request: pytest.FixtureRequest) -> Iterator[DockerDaemonFactory]:
    """Start private Docker daemons (see ``tests.support.daemons``); each is stopped at teardown."""
    daemons: list[DockerDaemon] = []

    def start(*, mirrors: Sequence[str] = (), insecure_registries: Sequence[str] = ()) -> DockerDaemon:
        daemon = start_docker_daemon(mirrors=mirrors, insecure_registries=insecure_registries)
        daemons.append(daemon)
        _track(request, daemon.daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


@pytest.fixture
def containerd(request: pytest.FixtureRequest) -> Iterator[Containerd]:
    """A private containerd with ``ctr`` (see ``tests.support.daemons``), stopped at teardown."""
    daemon = start_containerd()
    _track(request, daemon.daemon)
    yield daemon
    daemon.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log of every process the test started to a failed test's report."""
    report = yield
    if report.failed:
        for service in item.stash.get(SERVICES_KEY, []):
            report.sections.append((f"log: {service.name} on port {service.port}", service.describe()))
    return report


__all__ = [
    "CargoholdFactory",
    "DistributionFactory",
    "DockerDaemonFactory",
    "cargohold",
    "cargohold_factory",
    "container_tools",
    "containerd",
    "distribution_factory",
    "docker_daemon_factory",
    "pytest_runtest_makereport",
]
