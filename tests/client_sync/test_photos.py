"""Photos before sending: shrink big ones keeping EXIF, leave small ones alone, read GPS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFilter, JpegImagePlugin

from client_sync.photos import file_sha256, prepare_photo, read_exif_point_and_time

CST = timezone(timedelta(hours=8))
# The north canal of seed 004, as a camera writes it: degrees, minutes, seconds.
LAT_DMS, LON_DMS = (28.0, 48.0, 0.0), (113.0, 4.0, 48.0)
LAT, LON = 28.8, 113.08


def _exif(
    *, gps: bool = True, lat_ref: str = "N", lon_ref: str = "E", offset: str | None = "+08:00"
) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif[ExifTags.Base.Model] = "Redmi Note 12"
    exif[ExifTags.Base.Orientation] = 6  # held upright: viewers turn it 90 degrees
    times: dict[int, Any] = {ExifTags.Base.DateTimeOriginal: "2026:11:20 06:37:00"}
    if offset:
        times[ExifTags.Base.OffsetTimeOriginal] = offset
    exif[ExifTags.IFD.Exif] = times
    if gps:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: lat_ref,
            ExifTags.GPS.GPSLatitude: LAT_DMS,
            ExifTags.GPS.GPSLongitudeRef: lon_ref,
            ExifTags.GPS.GPSLongitude: LON_DMS,
        }
    return exif


def _jpeg(path: Path, size: tuple[int, int], exif: Image.Exif | None = None) -> Path:
    """A photo-like JPEG: smooth shapes plus sensor-like grain, so it compresses like one."""
    w, h = size
    coarse = Image.effect_noise((max(1, w // 8), max(1, h // 8)), 60).resize(size)
    grain = Image.effect_noise(size, 20)
    image = Image.merge("RGB", (coarse, Image.blend(coarse, grain, 0.4), grain))
    image.save(path, "JPEG", quality=92, exif=(exif or Image.Exif()).tobytes())
    return path


def _flat_jpeg(path: Path, size: tuple[int, int], exif: Image.Exif) -> Path:
    """A flat scene, a printed notice on a wall, saved at a phone's high quality (95)."""
    w, h = size
    image = Image.blend(Image.linear_gradient("L").resize(size).convert("RGB"),
                        Image.new("RGB", size, (236, 232, 220)), 0.8)
    draw = ImageDraw.Draw(image)
    for row in range(40, h - 40, 36):  # lines of dark glyphs
        for col in range(60, w - 60, 28):
            if (row * 7 + col * 3) % 11 < 8:
                draw.rectangle((col, row, col + 18, row + 20), fill=(40, 40, 40))
    grain = Image.effect_noise(size, 40).convert("RGB")
    image = Image.blend(image.filter(ImageFilter.GaussianBlur(1.0)), grain, 0.04)
    image.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _jpeg(tmp_path_factory.mktemp("camera") / "IMG_4000.jpg", (4000, 3000), _exif())


def test_big_photo_is_shrunk_to_2048_on_its_long_side(big_photo: Path, tmp_path: Path) -> None:
    prepared = prepare_photo(big_photo, tmp_path)
    assert prepared.reencoded
    assert prepared.size < big_photo.stat().st_size / 3
    with Image.open(prepared.path) as img:
        assert (img.format, img.size) == ("JPEG", (2048, 1536))
    assert (prepared.sha256, prepared.size) == (
        file_sha256(prepared.path),
        prepared.path.stat().st_size,
    )


def test_shrunk_photo_keeps_gps_time_and_camera(big_photo: Path, tmp_path: Path) -> None:
    prepared = prepare_photo(big_photo, tmp_path)
    point = read_exif_point_and_time(prepared.path)
    assert point is not None
    assert point.lat == pytest.approx(LAT, abs=1e-6)
    assert point.lon == pytest.approx(LON, abs=1e-6)
    assert point.taken_at == datetime(2026, 11, 20, 6, 37, tzinfo=CST)
    with Image.open(prepared.path) as img:
        exif = img.getexif()
    assert (exif[ExifTags.Base.Make], exif[ExifTags.Base.Model]) == ("Xiaomi", "Redmi Note 12")


def test_shrunk_photo_keeps_its_orientation_tag_and_unrotated_pixels(
    big_photo: Path, tmp_path: Path
) -> None:
    prepared = prepare_photo(big_photo, tmp_path)
    with Image.open(prepared.path) as img:
        assert img.getexif()[ExifTags.Base.Orientation] == 6
        assert img.width > img.height  # rotating the pixels would have made it 1536 x 2048


def test_big_jpeg_is_decoded_in_draft_mode(
    big_photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested: list[tuple[int, int] | None] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: str | None, size: tuple[int, int] | None) -> Any:
        requested.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    prepare_photo(big_photo, tmp_path)
    assert requested == [(2048, 1536)]


def test_flat_photo_is_sent_at_a_quarter_of_its_bytes_with_its_gps(tmp_path: Path) -> None:
    """A flat scene keeps more than a quarter at quality 85, so the encoder goes lower."""
    src = _flat_jpeg(tmp_path / "notice.jpg", (1200, 900), _exif())
    # 1024 px stands in for 2048 px: the same rule on a quarter of the pixels, sooner.
    prepared = prepare_photo(src, tmp_path / "out", max_side=1024)
    assert prepared.reencoded
    assert prepared.size <= 0.25 * src.stat().st_size
    point = read_exif_point_and_time(prepared.path)
    assert point is not None
    assert (point.lat, point.lon) == pytest.approx((LAT, LON), abs=1e-6)
    assert point.taken_at == datetime(2026, 11, 20, 6, 37, tzinfo=CST)
    with Image.open(prepared.path) as img:
        assert img.size == (1024, 768)  # a lower quality, not fewer pixels


def test_small_photo_is_sent_byte_for_byte(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "small.jpg", (1600, 1200), _exif())
    before = src.read_bytes()
    out = tmp_path / "out"
    prepared = prepare_photo(src, out)
    assert not prepared.reencoded
    assert prepared.path == src
    assert prepared.path.read_bytes() == before
    assert (prepared.sha256, prepared.size) == (file_sha256(src), len(before))
    assert not out.exists() or not any(out.iterdir())


def test_exif_point_south_and_west_are_negative(tmp_path: Path) -> None:
    src = _jpeg(tmp_path / "sw.jpg", (64, 48), _exif(lat_ref="S", lon_ref="W"))
    point = read_exif_point_and_time(src)
    assert point is not None
    assert (point.lat, point.lon) == pytest.approx((-LAT, -LON))


def test_exif_without_gps_or_with_a_null_fix_has_no_point(tmp_path: Path) -> None:
    assert read_exif_point_and_time(_jpeg(tmp_path / "a.jpg", (64, 48), _exif(gps=False))) is None
    null_fix = _exif()
    null_fix[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (0.0, 0.0, 0.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (0.0, 0.0, 0.0),
    }
    assert read_exif_point_and_time(_jpeg(tmp_path / "b.jpg", (64, 48), null_fix)) is None


def test_capture_time_without_offset_falls_back_to_gps_time_then_default_zone(
    tmp_path: Path,
) -> None:
    exif = _exif(offset=None)
    plain = read_exif_point_and_time(_jpeg(tmp_path / "a.jpg", (64, 48), exif), default_tz=CST)
    assert plain is not None
    assert plain.taken_at == datetime(2026, 11, 20, 6, 37, tzinfo=CST)
    exif[ExifTags.IFD.GPSInfo] |= {
        ExifTags.GPS.GPSDateStamp: "2026:11:19",
        ExifTags.GPS.GPSTimeStamp: (22.0, 36.0, 58.0),
    }
    stamped = read_exif_point_and_time(_jpeg(tmp_path / "b.jpg", (64, 48), exif), default_tz=CST)
    assert stamped is not None
    assert stamped.taken_at == datetime(2026, 11, 19, 22, 36, 58, tzinfo=UTC)
