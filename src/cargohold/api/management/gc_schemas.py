"""The JSON bodies of ``POST /api/v1/gc`` (garbage collection on demand), as pydantic v2 models in the
style of ``schemas``: the request is strict and refuses unknown fields."""

from __future__ import annotations

from pydantic import Field

from cargohold.api.management.schemas import _Request, _Response


class GcRequest(_Request):
    """Collect garbage now, or (``dry_run``) only say what would go."""

    dry_run: bool = Field(default=False, description="report what would be removed; remove nothing")


class GcItem(_Response):
    kind: str = Field(
        description="blob (unreferenced), upload (an abandoned session), spool (an orphan spool) or "
        "work (a stale lock or state file of the fetcher)"
    )
    name: str = Field(description="the blob's digest, the upload id or the file name")
    size: int = Field(description="bytes")


class GcResult(_Response):
    dry_run: bool
    removed: list[GcItem] = Field(description="what was removed (in a dry run: what would be)")
    bytes_freed: int = Field(description="bytes freed (in a dry run: that would be)")
