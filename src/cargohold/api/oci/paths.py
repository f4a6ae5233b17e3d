"""Splitting a /v2 path into the image name, the endpoint and its argument.

Names contain slashes, so the endpoint is found from the end of the path::

    _catalog                          → CATALOG
    <name>/tags/list                  → TAGS
    <name>/manifests/<reference>      → MANIFEST
    <name>/blobs/uploads/             → UPLOADS
    <name>/blobs/uploads/<id>         → UPLOAD
    <name>/blobs/<digest>             → BLOB
    <name>/referrers/<digest>         → REFERRERS

Percent-encoding never belongs in a name, a tag, a digest or an upload id, so a raw path holding ``%`` is
refused before anything is decoded; so are empty, ``.`` and ``..`` segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cargohold.errors import NameInvalidError, NameUnknownError


class Endpoint(Enum):
    BASE = "base"
    CATALOG = "catalog"
    TAGS = "tags"
    MANIFEST = "manifest"
    UPLOADS = "uploads"
    UPLOAD = "upload"
    BLOB = "blob"
    REFERRERS = "referrers"


@dataclass(frozen=True, slots=True)
class V2Path:
    endpoint: Endpoint
    name: str = ""
    argument: str = ""


def parse_v2_path(raw_path: str) -> V2Path:
    """Parse the raw (undecoded) path of a request under ``/v2``."""
    if raw_path in ("/v2", "/v2/"):
        return V2Path(Endpoint.BASE)
    tail = raw_path.removeprefix("/v2/")
    if "%" in tail or len(tail) > 1024:
        raise NameInvalidError("the path holds characters no name, tag or digest may contain")
    if tail in ("_catalog", "_catalog/"):
        return V2Path(Endpoint.CATALOG)
    parts = tail.split("/")
    if tail.endswith("/blobs/uploads/") or tail.endswith("/blobs/uploads"):
        trimmed = parts[:-3] if parts[-1] == "" else parts[:-2]
        return V2Path(Endpoint.UPLOADS, _name(trimmed))
    if len(parts) >= 4 and parts[-3:-1] == ["blobs", "uploads"]:
        return V2Path(Endpoint.UPLOAD, _name(parts[:-3]), parts[-1])
    if len(parts) >= 3 and parts[-2:] == ["tags", "list"]:
        return V2Path(Endpoint.TAGS, _name(parts[:-2]))
    if len(parts) >= 3:
        kind = {"manifests": Endpoint.MANIFEST, "blobs": Endpoint.BLOB, "referrers": Endpoint.REFERRERS}.get(
            parts[-2]
        )
        if kind is not None and parts[-1]:
            return V2Path(kind, _name(parts[:-2]), parts[-1])
    raise NameUnknownError("no such endpoint in the distribution API", detail={"path": raw_path[:300]})


def _name(parts: list[str]) -> str:
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise NameInvalidError(
            "a name has empty, '.' or '..' components", detail={"name": "/".join(parts)[:300]}
        )
    return "/".join(parts)
