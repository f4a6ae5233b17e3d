"""Helpers for pull-through tests: seed a real Distribution upstream with skopeo, count what it was asked
(from its access log), read cargohold's answers over HTTP, and listeners that misbehave at the TCP level."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.clients import ContainerTools
from tests.support.distribution import DistributionRegistry
from tests.support.images import Image, write_image
from tests.support.server import CargoholdServer

NO_TLS = ("--src-tls-verify=false", "--dest-tls-verify=false")
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def seed_upstream(
    tools: ContainerTools,
    upstream: DistributionRegistry,
    layout: Path,
    name: str,
    tag: str = "latest",
    *,
    seed: int = 0,
    layer_sizes: tuple[int, ...] = (4096, 200_000),
) -> Image:
    """Build an image offline and push it straight into the upstream with skopeo."""
    image = write_image(layout, tag=tag, layer_sizes=layer_sizes, seed=seed)
    creds: tuple[str, ...] = ()
    if upstream.credentials is not None:
        creds = ("--dest-creds", ":".join(upstream.credentials))
    tools.skopeo("copy", *NO_TLS, *creds, f"oci:{image.reference}", f"docker://{upstream.ref(name, tag)}")
    return image


_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>/v2/\S*) HTTP/[0-9.]+" (?P<status>\d{3})')


def upstream_requests(
    upstream: DistributionRegistry, method: str | None = None, contains: str = ""
) -> list[str]:
    """``METHOD PATH STATUS`` of every request the upstream's access log shows, filtered."""
    found = []
    for match in _ACCESS_LINE.finditer(upstream.service.log_text(limit=50_000_000)):
        if (method is None or match["method"] == method) and contains in match["path"]:
            found.append(f"{match['method']} {match['path']} {match['status']}")
    return found


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None) -> Answer:
    """One HTTP request with urllib; errors are answers too."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


def manifest(
    server: CargoholdServer,
    name: str,
    reference: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """GET (or HEAD) a manifest; ``headers`` such as ``server.admin_authorization()``: only a caller who
    manages the repository sees the messages of a proxy's failure."""
    return fetch(
        f"{server.url}/v2/{name}/manifests/{reference}",
        method=method,
        headers={"Accept": MANIFEST_ACCEPT, **(headers or {})},
    )


def proxy(name: str, url: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "url": url, **settings}


def repository(name: str, proxies: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {"name": name, "visibility": "public", "proxies": proxies, **settings}


@contextmanager
def silent_listener() -> Iterator[socket.socket]:
    """A port that accepts TCP connections (the kernel completes them) and never answers a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener
    finally:
        listener.close()


def accepted_connections(listener: socket.socket) -> int:
    """Connections waiting on a silent listener (each one a client that tried it), taken off the queue."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def log_lines(
    server: CargoholdServer, contains: str, *, at_least: int = 1, deadline_s: float = 10.0
) -> list[str]:
    """Lines of the server's log holding ``contains``, waiting (bounded) for ``at_least`` of them to be
    written: the access log line of a request is written just after its response went out."""
    give_up = time.monotonic() + deadline_s
    while True:
        lines = [line for line in server.service.log_text().splitlines() if contains in line]
        if len(lines) >= at_least or time.monotonic() > give_up:
            return lines
        time.sleep(0.02)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
