"""Fixtures of the deploy tests: ``made`` records what a test created with podman and removes exactly that."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.podman import Container, podman


@pytest.fixture
def made() -> Iterator[dict[str, list[str]]]:
    """Containers, volumes and images a test made, by name or id; removed afterwards in that order (images
    last to first, so a derived image goes before the one it was built on)."""
    things: dict[str, list[str]] = {"containers": [], "volumes": [], "images": []}
    yield things
    for name in things["containers"]:
        Container(name).remove()
    for name in things["volumes"]:
        podman("volume", "rm", "--force", name, check=False)
    for image in reversed(things["images"]):
        podman("rmi", "--force", image, check=False)
