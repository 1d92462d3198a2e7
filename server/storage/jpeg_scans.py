"""Counting the scans of a JPEG before decoding it, to refuse a decompression CPU bomb.

A progressive JPEG is decoded scan by scan, and libjpeg walks every block of the image for
each scan, however few bytes the scan holds. A 300 KB file of 20,000 empty scans over a 3 MP
image costs over a minute of CPU (measured with Pillow 11 / libjpeg-turbo); a 25 MB one, hours.
Cameras write one scan (baseline) or about ten (progressive; mozjpeg up to about twenty).
libjpeg-turbo's own tools cap scans (``djpeg -maxscans``) but the library does not, and
Pillow exposes no such limit, so the count is taken here from the marker structure:
segments by their length, entropy-coded data up to the next marker (inside it, 0xFF is
always followed by 0x00 or a restart marker).
"""

from __future__ import annotations

import mmap
from typing import BinaryIO

__all__ = ["MAX_JPEG_SCANS", "count_scans"]

MAX_JPEG_SCANS = 100

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length


def count_scans(fp: BinaryIO, limit: int = MAX_JPEG_SCANS) -> int:
    """The number of scans (SOS segments) in the JPEG ``fp``, counting no further than
    ``limit + 1``. A malformed structure stops the count: the decoder judges the rest."""
    try:
        view = mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)
    except (ValueError, OSError):  # empty, or not a real file: read it
        fp.seek(0)
        return _count(fp.read(), limit)
    with view:
        return _count(view, limit)


def _count(data: bytes | mmap.mmap, limit: int) -> int:
    size, scans = len(data), 0
    pos = 2 if data[:2] == b"\xff\xd8" else size
    while pos + 4 <= size and scans <= limit:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes before a marker
            pos += 1
            continue
        if marker == _EOI:
            break
        if marker in _STANDALONE or marker == _SOI:
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker != _SOS:
            continue
        scans += 1
        pos = _after_entropy_data(data, pos)
    return scans


def _after_entropy_data(data: bytes | mmap.mmap, pos: int) -> int:
    """The offset of the first marker after the entropy-coded data starting at ``pos``."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return size
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
            continue
        if following == 0xFF:  # fill byte: the marker follows
            pos += 1
            continue
        return pos
