"""Parsing of the HTTP range headers the OCI API reads: ``Range`` on blob GETs and ``Content-Range`` on
chunked upload PATCHes. Pure functions over strings; they return inclusive ``(start, end)`` pairs and raise
only the domain errors of ``cargohold.errors``.
"""

from __future__ import annotations

import re
from typing import Final

from cargohold.errors import BlobUploadInvalidError, RangeNotSatisfiableError

# Positions longer than this many digits are beyond any blob we could hold (and beyond int64).
_MAX_DIGITS: Final = 18

_BYTE_RANGE_RE: Final = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_CONTENT_RANGE_RE: Final = re.compile(r"(?:bytes[ \t]+)?([0-9]+)-([0-9]+)(?:/(?:\*|[0-9]+))?", re.ASCII)


def _strip_zeros(digits: str) -> str:
    """``digits`` without leading zeros (``"0"`` stays), so that its length says how large it is."""
    return digits.lstrip("0") or ("0" if digits else "")


def parse_blob_range(header: str, size: int) -> tuple[int, int]:
    """The single byte range a ``Range`` header asks of a blob of ``size`` bytes, as inclusive
    ``(start, end)`` with ``0 <= start <= end < size``.

    Accepts ``bytes=a-b`` (an ``end`` past the blob is clamped to its last byte), ``bytes=a-`` and the
    suffix form ``bytes=-n`` (the last ``n`` bytes). Raises RangeNotSatisfiableError for anything else:
    a malformed header, another unit, several ranges, or a range that selects no byte of the blob.
    """
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise RangeNotSatisfiableError(
            f"unsupported range {header[:80]!r}: expected bytes=start-end", size=size
        )
    if "," in spec:
        raise RangeNotSatisfiableError("multiple ranges are not supported", size=size)
    match = _BYTE_RANGE_RE.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiableError(f"malformed range {header[:80]!r}", size=size)
    first, last = (_strip_zeros(g) for g in match.groups())
    if first == "":
        # Suffix range: the last n bytes.
        if len(last) <= _MAX_DIGITS and int(last) == 0:
            raise RangeNotSatisfiableError("empty suffix range", size=size)
        if size <= 0:
            raise RangeNotSatisfiableError("range of an empty blob", size=size)
        count = size if len(last) > _MAX_DIGITS else min(int(last), size)
        return size - count, size - 1
    if len(first) > _MAX_DIGITS or int(first) >= size:
        raise RangeNotSatisfiableError(f"range starts at or beyond the blob's end ({size} bytes)", size=size)
    start = int(first)
    if last == "" or len(last) > _MAX_DIGITS:
        return start, size - 1
    end = int(last)
    if end < start:
        raise RangeNotSatisfiableError(f"range end {end} is before its start {start}", size=size)
    return start, min(end, size - 1)


def parse_content_range(header: str) -> tuple[int, int]:
    """The inclusive ``(start, end)`` of a chunk named by an upload PATCH's ``Content-Range``.

    Accepts the distribution form ``a-b`` as well as ``bytes a-b`` and ``bytes a-b/*`` (or ``/total``).
    Raises BlobUploadInvalidError when the header is malformed or ``end < start``.
    """
    match = _CONTENT_RANGE_RE.fullmatch(header.strip())
    if match is None:
        raise BlobUploadInvalidError(f"malformed Content-Range {header[:80]!r}: expected start-end")
    first, last = (_strip_zeros(g) for g in match.groups())
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        raise BlobUploadInvalidError(f"Content-Range {header[:80]!r} is out of range")
    start, end = int(first), int(last)
    if end < start:
        raise BlobUploadInvalidError(f"Content-Range end {end} is before its start {start}")
    return start, end
