"""The memory window of a download: what a feed can take without reading the spool back, and what it drops."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cargohold.proxy.window import ByteWindow


def test_reads_from_any_held_position_to_the_end_of_its_chunk() -> None:
    window = ByteWindow(keep=10)
    window.append(b"abcd")
    window.append(b"efgh")
    assert window.read(0) == b"abcd"
    assert window.read(4) == b"efgh"
    assert window.read(6) == b"gh"
    assert window.read(8) is None  # not received yet


def test_chunks_are_dropped_only_once_on_disk_and_older_than_the_newest_keep_bytes() -> None:
    window = ByteWindow(keep=4)
    for chunk in (b"aaaa", b"bbbb", b"cccc"):
        window.append(chunk)
    window.written(4)  # only the first chunk is in the file, and 8 newer bytes are held
    assert (window.start, window.read(0)) == (4, None)
    assert window.read(4) == b"bbbb"
    window.written(12)  # everything is in the file: the newest 4 bytes stay
    assert window.start == 8
    assert window.read(8) == b"cccc"


def test_nothing_unwritten_is_ever_dropped() -> None:
    window = ByteWindow(keep=0)
    window.append(b"x" * 100)
    window.append(b"y" * 100)
    window.written(150)  # the file holds half of the second chunk
    assert window.start == 100
    assert window.read(100) == b"y" * 100


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=30),
    keep=st.integers(min_value=0, max_value=200),
    flushed=st.data(),
)
def test_every_held_byte_is_the_right_byte(chunks: list[bytes], keep: int, flushed: st.DataObject) -> None:
    body = b"".join(chunks)
    window = ByteWindow(keep=keep)
    for chunk in chunks:
        window.append(chunk)
        window.written(flushed.draw(st.integers(min_value=0, max_value=window.end)))
    assert window.end == len(body)
    for position in range(len(body)):
        held = window.read(position)
        if position < window.start:
            assert held is None
        else:
            assert held is not None
            assert body.startswith(held, position)
