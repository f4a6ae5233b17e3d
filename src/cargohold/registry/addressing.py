"""Turning the ``<name>`` of a /v2 URL into a repository and an image (DESIGN.md section 3).

``/v2/<repository>/<image>/…`` is the normal form. A name whose first component is no repository is
answered by the ``default`` repository, with the whole name as the image (``/v2/library/nginx/…``), so
cargohold can sit behind a Docker daemon's ``registry-mirrors``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.errors import NameInvalidError, NameUnknownError
from cargohold.metadata.base import MetadataStore
from cargohold.models import Repository, validate_full_name


@dataclass(frozen=True, slots=True)
class ImageAddress:
    """An image inside a repository, as a /v2 request names it."""

    repository: Repository
    image: str
    name: str
    """The name exactly as the client wrote it, for Location headers and listings."""

    @property
    def repository_id(self) -> int:
        assert self.repository.id is not None
        return self.repository.id


class NameResolver:
    """Finds the repository and image a /v2 name refers to."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    async def resolve(self, name: str) -> ImageAddress:
        """Raise NameInvalidError for a malformed name, NameUnknownError when no repository answers it."""
        validate_full_name(name)
        first, _, rest = name.partition("/")
        if rest:
            repository = await self._metadata.get_repository(first)
            if repository is not None:
                return ImageAddress(repository, rest, name)
        default = await self._metadata.default_repository()
        if default is not None:
            return ImageAddress(default, name, name)
        if not rest:
            raise NameInvalidError(
                f"{name!r} names no image: use <repository>/<image>", detail={"name": name}
            )
        raise NameUnknownError(f"no repository named {first!r}", detail={"name": name})
