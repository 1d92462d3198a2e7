"""Counting a JPEG's scans from its markers, before any decoding."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from server.storage.jpeg_scans import count_scans


def jpeg(progressive: bool, comment: bytes = b"") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 200, 30)).save(out, "JPEG", progressive=progressive,
                                                     comment=comment)
    return out.getvalue()


def scans_in(tmp_path: Path, data: bytes, limit: int = 100) -> int:
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    with path.open("rb") as fp:
        return count_scans(fp, limit)


def test_baseline_has_one_scan_and_progressive_several(tmp_path: Path) -> None:
    assert scans_in(tmp_path, jpeg(False)) == 1
    assert 5 <= scans_in(tmp_path, jpeg(True)) <= 20


def test_marker_bytes_inside_a_segment_are_not_scans(tmp_path: Path) -> None:
    # A comment (as an EXIF or XMP payload may) holding SOS marker bytes.
    assert scans_in(tmp_path, jpeg(False, comment=b"\xff\xda" * 500)) == 1


def test_the_count_stops_past_the_limit(tmp_path: Path) -> None:
    data = jpeg(True)
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    many = data[:end] + data[last:end] * 1000 + data[end:]
    assert scans_in(tmp_path, many, limit=50) == 51


def test_truncated_or_empty_files_count_what_is_there(tmp_path: Path) -> None:
    data = jpeg(True)
    assert scans_in(tmp_path, data[:data.index(b"\xff\xda") + 40]) == 1
    assert scans_in(tmp_path, b"") == 0
    assert scans_in(tmp_path, b"\xff\xd8\xff") == 0
