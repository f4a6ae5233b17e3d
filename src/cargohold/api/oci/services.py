"""What the /v2 handlers need from the layers below, gathered by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.proxy.service import PullThroughService
from cargohold.registry.addressing import NameResolver
from cargohold.registry.blobs import BlobService
from cargohold.registry.directory import RepositoryDirectory
from cargohold.registry.images import ManifestService
from cargohold.registry.uploads import UploadService


@dataclass(frozen=True, slots=True)
class OciServices:
    names: NameResolver
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    pull: PullThroughService
    """Pulls (GET/HEAD of manifests and blobs) go through here: local content first, then the proxies."""
    directory: RepositoryDirectory
    """Repositories by name, for filtering the catalog to what the caller may pull."""
