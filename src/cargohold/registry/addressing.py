"""Turning the ``<name>`` of a /v2 URL into a repository and an image (docs/pull-flow.md).

In order:

1. ``?ns=<host>`` (containerd, the OCI spec's "Registry Proxying") selects the repository whose ``hosts``
   name that host; the whole name is the image. ``ns`` is only ever a lookup key, never a place to connect.
2. ``/v2/<repository>/<image>/…`` is the normal form.
3. A first component that is a host named by a repository's ``hosts`` (``/v2/docker.io/library/nginx``, as
   podman's ``registries.conf`` mirrors write it) selects that repository; the rest is the image.
4. Anything else is answered by the ``default`` repository with the whole name as the image
   (``/v2/library/nginx/…``), so cargohold can be a Docker daemon ``registry-mirrors`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.errors import NameInvalidError, NameUnknownError
from cargohold.models import Repository, validate_full_name, validate_image_name
from cargohold.registry.directory import RepositoryDirectory

_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")


@dataclass(frozen=True, slots=True)
class ImageAddress:
    """An image inside a repository, as a /v2 request names it."""

    repository: Repository
    image: str
    name: str
    """The name exactly as the client wrote it, for Location headers and listings."""
    namespace: str | None = None
    """The upstream host the client named (``ns`` or a host path prefix), echoed as ``OCI-Namespace``."""

    @property
    def repository_id(self) -> int:
        assert self.repository.id is not None
        return self.repository.id


class NameResolver:
    """Finds the repository and image a /v2 name refers to."""

    def __init__(self, directory: RepositoryDirectory) -> None:
        self._directory = directory

    async def resolve(self, name: str, namespace: str | None = None) -> ImageAddress:
        """Raise NameInvalidError for a malformed name, NameUnknownError when no repository answers it."""
        if namespace:
            by_namespace = await self._by_host(namespace.lower(), name)
            if by_namespace is not None:
                return by_namespace
        first, _, rest = name.partition("/")
        if rest and _looks_like_host(first):
            by_prefix = await self._by_host(first.lower(), rest, name)
            if by_prefix is not None:
                return by_prefix
        validate_full_name(name)
        if rest:
            repository = await self._directory.repository(first)
            if repository is not None:
                return ImageAddress(repository, rest, name)
        default = await self._directory.default()
        if default is not None:
            return ImageAddress(default, name, name)
        if not rest:
            raise NameInvalidError(
                f"{name!r} names no image: use <repository>/<image>", detail={"name": name}
            )
        raise NameUnknownError(f"no repository named {first!r}", detail={"name": name})

    async def _by_host(self, host: str, image: str, name: str | None = None) -> ImageAddress | None:
        if len(host) > 255 or not set(host) <= _HOST_CHARACTERS:
            return None
        repository = await self._directory.for_host(host)
        if repository is None:
            return None
        validate_image_name(image)
        return ImageAddress(repository, image, name or image, namespace=host)


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"
