"""Range and Content-Range parsing for blob GETs and chunked upload PATCHes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.api.oci.ranges import parse_blob_range, parse_content_range
from cargohold.errors import BlobUploadInvalidError, RangeNotSatisfiableError


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-100", 10, (0, 9)),
        ("bytes=9-9", 10, (9, 9)),
        ("Bytes=1-2", 10, (1, 2)),
        ("  bytes=1-2  ", 10, (1, 2)),
        ("bytes=0-99999999999999999999999999", 10, (0, 9)),
        ("bytes=-99999999999999999999999999", 10, (0, 9)),
        ("bytes=007-008", 10, (7, 8)),
    ],
)
def test_blob_range_accepts_single_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_blob_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=10-", 10),  # starts at the end
        ("bytes=10-20", 10),
        ("bytes=99999999999999999999999-", 10),
        ("bytes=5-4", 10),  # end before start
        ("bytes=-0", 10),  # empty suffix
        ("bytes=-00000000000000000000000", 10),
        ("bytes=0-0", 0),  # nothing to select in an empty blob
        ("bytes=-5", 0),
        ("bytes=0-1,3-4", 10),  # several ranges
        ("bytes=-", 10),
        ("bytes=", 10),
        ("bytes=a-b", 10),
        ("bytes=+1-2", 10),
        ("bytes=1_0-20", 10),
        ("bytes=\u0661-2", 10),  # non-ASCII digit
        ("items=0-1", 10),
        ("0-1", 10),
        ("", 10),
    ],
)
def test_blob_range_rejects(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiableError) as info:
        parse_blob_range(header, size)
    assert info.value.size == size


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0-0", (0, 0)),
        ("0-1023", (0, 1023)),
        ("1024-2047", (1024, 2047)),
        ("bytes 0-9", (0, 9)),
        ("bytes 0-9/*", (0, 9)),
        ("bytes 0-9/10", (0, 9)),
        (" 5-6 ", (5, 6)),
    ],
)
def test_content_range_accepts(header: str, expected: tuple[int, int]) -> None:
    assert parse_content_range(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        "5",
        "5-",
        "-5",
        "6-5",
        "a-b",
        "bytes=0-9",
        "bytes 0-9/",
        "0 - 9",
        "+1-2",
        "\u0661-\u0662",
        "0-99999999999999999999999999",
    ],
)
def test_content_range_rejects(header: str) -> None:
    with pytest.raises(BlobUploadInvalidError):
        parse_content_range(header)


@given(header=st.text(max_size=40), size=st.integers(min_value=0, max_value=2**40))
def test_blob_range_never_raises_anything_else(header: str, size: int) -> None:
    try:
        start, end = parse_blob_range(header, size)
    except RangeNotSatisfiableError:
        return
    assert 0 <= start <= end < size


@given(
    start=st.integers(min_value=0, max_value=2**41),
    end=st.one_of(st.none(), st.integers(min_value=0, max_value=2**41)),
    size=st.integers(min_value=0, max_value=2**40),
)
def test_blob_range_well_formed_bounds(start: int, end: int | None, size: int) -> None:
    header = f"bytes={start}-" + ("" if end is None else str(end))
    try:
        got = parse_blob_range(header, size)
    except RangeNotSatisfiableError:
        assert start >= size or (end is not None and end < start)
        return
    want_end = size - 1 if end is None else min(end, size - 1)
    assert got == (start, want_end)


@given(count=st.integers(min_value=1, max_value=2**41), size=st.integers(min_value=1, max_value=2**40))
def test_blob_suffix_range_selects_the_tail(count: int, size: int) -> None:
    start, end = parse_blob_range(f"bytes=-{count}", size)
    assert end == size - 1
    assert end - start + 1 == min(count, size)


@given(header=st.text(max_size=40))
def test_content_range_never_raises_anything_else(header: str) -> None:
    try:
        start, end = parse_content_range(header)
    except BlobUploadInvalidError:
        return
    assert 0 <= start <= end


@given(start=st.integers(min_value=0, max_value=2**50), end=st.integers(min_value=0, max_value=2**50))
def test_content_range_roundtrip(start: int, end: int) -> None:
    for header in (f"{start}-{end}", f"bytes {start}-{end}", f"bytes {start}-{end}/*"):
        if end < start:
            with pytest.raises(BlobUploadInvalidError):
                parse_content_range(header)
        else:
            assert parse_content_range(header) == (start, end)
