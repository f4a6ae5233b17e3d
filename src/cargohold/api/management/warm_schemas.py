"""Bodies of ``POST /api/v1/repositories/{repo}/warm``: what to fetch ahead of time, and the events that
report it as it happens (``cargohold.proxy.warm``)."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field

from cargohold.api.management.schemas import _Request, _Response
from cargohold.errors import CargoholdError
from cargohold.proxy.warm import MAX_IMAGES, WarmTarget

_PLATFORM: Final = re.compile(r"[a-z0-9_.-]{1,32}/[a-z0-9_.-]{1,32}(?:/[a-z0-9_.-]{1,32})?")


def _target(text: str) -> str:
    try:
        return str(WarmTarget.parse(text))
    except CargoholdError as error:
        raise ValueError(f"{error.message}; expected NAME, NAME:TAG or NAME@DIGEST") from None


def _platform(text: str) -> str:
    if not _PLATFORM.fullmatch(text):
        raise ValueError(f"{text[:80]!r} is not a platform: expected os/architecture[/variant]")
    return text


class WarmRequest(_Request):
    """Images of the repository to fetch into its cache now."""

    images: list[Annotated[str, AfterValidator(_target)]] = Field(
        min_length=1,
        max_length=MAX_IMAGES,
        description="NAME, NAME:TAG or NAME@DIGEST (the tag defaults to latest)",
    )
    platforms: list[Annotated[str, AfterValidator(_platform)]] = Field(
        default_factory=list,
        max_length=32,
        description="of an index, only these platforms (os/architecture[/variant]); empty: all",
    )


class WarmEvent(_Response):
    """One line of the answer; which fields are present depends on ``event``."""

    event: str = Field(
        description="image (a manifest found: status cached/fetched/failed), blob (a blob starts; size), "
        "progress (bytes of a blob so far), blob_done (status cached/fetched/failed), summary (last)"
    )
    image: str | None = None
    digest: str | None = None
    platform: str | None = None
    size: int | None = Field(default=None, description="a blob's size, when its manifest says it")
    bytes: int | None = Field(default=None, description="bytes of the blob read so far (or in all)")
    status: str | None = None
    detail: str | None = Field(default=None, description="why it failed")
    fetched: int | None = Field(default=None, description="summary: blobs fetched through a proxy")
    cached: int | None = Field(default=None, description="summary: blobs already held")
    failed: int | None = Field(default=None, description="summary: blobs and images that failed")
