"""Photo checks, EXIF reading and derived images (server.storage.photos)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageFile

from server.storage import (
    ExifInfo,
    PhotoRejectedError,
    derive_images,
    inspect_photo,
    parse_exif,
    process_photo,
    sniff_format,
)
from server.storage import photos as photos_module
from tests.server.storage.imagegen import (
    QUADRANT_COLOURS,
    corrupt,
    make_bomb,
    make_image,
    make_jpeg,
    make_png,
    make_webp,
    quadrant_colour,
    read_exif,
    swapped_primaries_profile,
    truncate,
)

WriteFile = Callable[..., Path]
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write bytes to a file in tmp_path and return its path."""

    def _write(data: bytes, name: str = "upload.bin") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


def _exif_of(data: bytes) -> ExifInfo:
    return parse_exif(read_exif(data))


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# --- EXIF ------------------------------------------------------------------------------------

HEMISPHERES = [(28.801234, 113.081234), (-33.856784, 151.215297), (40.6892, -74.0445),
               (-22.951916, -43.210487)]  # fmt: skip


@pytest.mark.parametrize("form", ["dms", "deg_min", "decimal_degrees", "single"])
@pytest.mark.parametrize("point", HEMISPHERES, ids=["NE", "SE", "NW", "SW"])
def test_gps_is_read_in_every_rational_form_and_hemisphere(
    form: str, point: tuple[float, float]
) -> None:
    info = _exif_of(make_jpeg(gps=point, gps_form=form))
    assert info.lat == pytest.approx(point[0], abs=1e-6)
    assert info.lon == pytest.approx(point[1], abs=1e-6)


@pytest.mark.parametrize(
    "lat_value",
    [((28, 1), (48, 1), (4442, 1000)), (28, 1, 48, 1, 4442, 1000), (28, 48, 4.442), "28.801234"],
    ids=["num-den-pairs", "flat-ints", "plain-numbers", "text"],
)
def test_gps_given_as_tuples_or_plain_numbers_is_read(lat_value: object) -> None:
    exif = {0x8825: {1: "N", 2: lat_value, 3: b"E\x00", 4: ((113, 1), (4, 1), (52, 1))}}
    info = parse_exif(exif)
    assert info.lat == pytest.approx(28.801234, abs=1e-5)
    assert info.lon == pytest.approx(113 + 4 / 60 + 52 / 3600)


@pytest.mark.parametrize(
    "gps_raw",
    [
        (((28, 1), (48, 0), (0, 1)), "N", ((113, 1), (4, 1), (0, 1)), "E"),
        (((28, 1), (48, 1), (0, 1)), "N", ((113, 0), (4, 1), (0, 1)), "E"),
        (((95, 1), (0, 1), (0, 1)), "N", ((113, 1), (4, 1), (0, 1)), "E"),
        (((28, 1), (0, 1), (0, 1)), "N", ((181, 1), (0, 1), (0, 1)), "W"),
        (((0, 1), (0, 1), (0, 1)), "N", ((0, 1), (0, 1), (0, 1)), "E"),
    ],
    ids=["zero-denominator-lat", "zero-denominator-lon", "lat-over-90", "lon-over-180", "0-0"],
)
def test_impossible_gps_on_disk_reads_none(gps_raw: tuple) -> None:
    info = _exif_of(make_jpeg(gps_raw=gps_raw))
    assert (info.lat, info.lon) == (None, None)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, "north", (1, 2, 3, 4)])
def test_non_numeric_gps_reads_none(bad: object) -> None:
    info = parse_exif({0x8825: {1: "N", 2: bad, 3: "E", 4: (113.0, 0.0, 0.0)}})
    assert (info.lat, info.lon) == (None, None)


def test_exact_rationals_on_disk_are_read() -> None:
    gps_raw = (((28, 1), (4806, 100), (0, 1)), "S", ((113, 1), (4, 1), (5200, 100)), "W")
    info = _exif_of(make_jpeg(gps_raw=gps_raw))
    assert info.lat == pytest.approx(-(28 + 48.06 / 60))
    assert info.lon == pytest.approx(-(113 + 4 / 60 + 52 / 3600))


@pytest.mark.parametrize("altitude", [56.25, -12.5, 0.0])
def test_altitude_is_signed_by_its_sea_level_ref(altitude: float) -> None:
    info = _exif_of(make_jpeg(gps=(28.8, 113.08), altitude=altitude))
    assert info.altitude_m == pytest.approx(altitude)


def test_taken_at_with_offset_is_aware() -> None:
    info = _exif_of(make_jpeg(taken_at=datetime(2026, 3, 14, 6, 37, 5), offset="+08:00"))
    assert info.taken_at == datetime(2026, 3, 14, 6, 37, 5, tzinfo=SHANGHAI)
    assert info.taken_at.utcoffset() == timedelta(hours=8)


def test_taken_at_without_offset_is_naive() -> None:
    info = _exif_of(make_jpeg(taken_at=datetime(2026, 3, 14, 6, 37, 5)))
    assert info.taken_at == datetime(2026, 3, 14, 6, 37, 5)
    assert info.taken_at.tzinfo is None


def test_taken_at_keeps_subseconds_and_negative_offsets() -> None:
    taken = datetime(2025, 12, 31, 23, 59, 58)
    info = _exif_of(make_jpeg(taken_at=taken, offset="-0530", subsec="25"))
    expected = taken.replace(microsecond=250_000, tzinfo=timezone(-timedelta(hours=5, minutes=30)))
    assert info.taken_at == expected


@pytest.mark.parametrize("raw", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday", ""])
def test_placeholder_capture_time_reads_none(raw: str) -> None:
    assert parse_exif({0x8769: {0x9003: raw, 0x9011: "+08:00"}}).taken_at is None


def test_camera_and_orientation_are_read() -> None:
    info = _exif_of(make_jpeg(make="Xiaomi\x00", model=" 2311DRK48C ", orientation=6))
    assert (info.make, info.model, info.orientation) == ("Xiaomi", "2311DRK48C", 6)


def test_photo_without_exif_reads_all_none() -> None:
    assert _exif_of(make_jpeg()) == ExifInfo()


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_broken_exif_block_is_ignored_not_fatal(write: WriteFile) -> None:
    """Pillow warns about the block (as it would in production) and the photo still passes."""
    plain = make_jpeg(64, 48)
    garbage_app1 = b"\xff\xe1\x00\x20Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x07" * 14
    info = inspect_photo(write(plain[:2] + garbage_app1 + plain[2:]))
    assert (info.width, info.exif) == (64, ExifInfo())


# --- inspect_photo: decide by decoding --------------------------------------------------------


def test_jpeg_is_inspected_with_hash_size_and_exif(write: WriteFile) -> None:
    data = make_jpeg(640, 480, gps=(28.8, 113.08), make="HUAWEI")
    info = inspect_photo(write(data, "IMG_0001.png"))
    assert (info.format, info.mime, info.width, info.height) == ("jpeg", "image/jpeg", 640, 480)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size_bytes == len(data)
    assert info.exif.lat == pytest.approx(28.8) and info.exif.make == "HUAWEI"


@pytest.mark.parametrize(
    ("maker", "fmt", "mime"),
    [(make_png, "png", "image/png"), (make_webp, "webp", "image/webp")],
)
def test_png_and_webp_are_accepted_with_their_exif(
    write: WriteFile, maker: Callable[..., bytes], fmt: str, mime: str
) -> None:
    info = inspect_photo(write(maker(300, 200, gps=(-33.85, 151.21), orientation=8), "x.jpg"))
    assert (info.format, info.mime) == (fmt, mime)
    assert (info.width, info.height) == (200, 300)
    assert (info.exif.lat, info.exif.lon) == (pytest.approx(-33.85), pytest.approx(151.21))


def test_multi_picture_jpeg_from_a_phone_is_a_jpeg(write: WriteFile) -> None:
    buf = io.BytesIO()
    make_image(3200, 2400).save(buf, "MPO", save_all=True, append_images=[make_image(640, 480)])
    info, display, _thumb = process_photo(write(buf.getvalue()))
    assert (info.format, info.width, _open(display).size) == ("jpeg", 3200, (1600, 1200))
    assert b"MPF" not in display


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_quarter_turn_orientations_report_upright_size(write: WriteFile, orientation: int) -> None:
    info = inspect_photo(write(make_jpeg(400, 200, orientation=orientation)))
    assert (info.width, info.height) == (200, 400)


@pytest.mark.parametrize(
    "data",
    [
        b"Dear grid worker, this is not a photo.\n" * 20,
        b"",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"BM" + b"\x00" * 64,
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 40,
    ],
    ids=["text", "empty", "gif", "bmp", "avif"],
)
def test_anything_but_jpeg_png_webp_is_415_whatever_its_name(write: WriteFile, data: bytes) -> None:
    with pytest.raises(PhotoRejectedError) as caught:
        inspect_photo(write(data, "photo.jpg"))
    assert (caught.value.status, caught.value.problem_type) == (415, "unsupported_media_type")


def test_heic_is_415_without_pillow_heif(write: WriteFile, monkeypatch) -> None:
    monkeypatch.setattr(photos_module, "_heif_available", lambda: False)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(PhotoRejectedError) as caught:
        inspect_photo(write(heic, "IMG_0002.HEIC"))
    assert caught.value.status == 415
    assert sniff_format(heic) == "heic"


@pytest.mark.parametrize(
    "data",
    [
        truncate(make_jpeg(800, 600, texture=30), 0.5),
        truncate(make_jpeg(800, 600, texture=30), 0.999),
        truncate(make_png(300, 200), 0.6),
        truncate(make_webp(300, 200), 0.6),
    ],
    ids=["jpeg-half", "jpeg-no-eoi", "png", "webp"],
)
def test_truncated_photo_is_422_corrupt(write: WriteFile, data: bytes) -> None:
    with pytest.raises(PhotoRejectedError) as caught:
        inspect_photo(write(data))
    assert (caught.value.status, caught.value.problem_type) == (422, "corrupt_image")


@pytest.mark.parametrize(
    "data",
    [
        corrupt(make_jpeg(800, 600, texture=30), start=0.5, length=4000),
        corrupt(make_jpeg(800, 600, texture=30), start=0.0005, length=600),
        b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        corrupt(make_png(300, 200), start=0.5, length=200),
    ],
    ids=["jpeg-scan", "jpeg-headers", "jpeg-magic-then-noise", "png-idat"],
)
def test_corrupt_photo_bytes_are_422(write: WriteFile, data: bytes) -> None:
    with pytest.raises(PhotoRejectedError) as caught:
        inspect_photo(write(data))
    assert (caught.value.status, caught.value.problem_type) == (422, "corrupt_image")


@pytest.mark.parametrize(
    "size",
    [(100_000, 100_000), (10_000, 10_000), (9_000, 7_000)],
    ids=["past-pillow-error", "past-pillow-warning", "past-our-limit-only"],
)
def test_decompression_bomb_is_422_too_many_pixels(write: WriteFile, size: tuple[int, int]) -> None:
    """A few hundred bytes declaring a huge picture is refused from its header."""
    bomb = write(make_bomb(*size))
    for check in (inspect_photo, derive_images, process_photo):
        with pytest.raises(PhotoRejectedError) as caught:
            check(bomb)
        assert (caught.value.status, caught.value.problem_type) == (422, "too_many_pixels")


def test_pixel_limit_is_checked_before_any_pixel_is_decoded(write: WriteFile, monkeypatch) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded before the pixel check")

    path = write(make_jpeg(400, 300))
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(PhotoRejectedError) as caught:
        inspect_photo(path, max_pixels=400 * 300 - 1)
    assert caught.value.problem_type == "too_many_pixels"


def test_rejection_carries_a_title_for_the_problem_document(write: WriteFile) -> None:
    with pytest.raises(PhotoRejectedError) as caught:
        inspect_photo(write(b"plain text"))
    assert caught.value.title == "Unsupported media type"
    assert caught.value.detail == str(caught.value)


@pytest.mark.skipif(not photos_module._heif_available(), reason="pillow-heif not installed")
def test_heic_is_accepted_when_pillow_heif_is_installed(write: WriteFile) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), "red").save(buf, "HEIF")
    info = inspect_photo(write(buf.getvalue()))
    assert (info.format, info.mime, info.width) == ("heic", "image/heic", 120)


# --- derive_images ---------------------------------------------------------------------------


def _open(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_display_and_thumb_fit_their_boxes_as_rgb_jpeg(write: WriteFile) -> None:
    display, thumb = derive_images(write(make_jpeg(4000, 3000, texture=20)))
    assert [(_open(d).format, _open(d).mode, _open(d).size) for d in (display, thumb)] == [
        ("JPEG", "RGB", (1600, 1200)),
        ("JPEG", "RGB", (320, 240)),
    ]


def test_small_photo_is_not_enlarged(write: WriteFile) -> None:
    display, thumb = derive_images(write(make_png(300, 120)))
    assert (_open(display).size, _open(thumb).size) == ((300, 120), (300, 120))


@pytest.mark.parametrize(
    ("orientation", "red_ends_up"),
    [(1, "top_left"), (2, "top_right"), (3, "bottom_right"), (4, "bottom_left"),
     (5, "top_left"), (6, "top_right"), (7, "bottom_right"), (8, "bottom_left")],
)  # fmt: skip
def test_orientation_is_applied_to_derived_images(
    write: WriteFile, orientation: int, red_ends_up: str
) -> None:
    display, thumb = derive_images(write(make_jpeg(400, 200, orientation=orientation)))
    portrait = orientation >= 5
    for img in (_open(display), _open(thumb)):
        assert (img.height > img.width) is portrait
        assert _close(quadrant_colour(img, red_ends_up), QUADRANT_COLOURS["top_left"])


@pytest.mark.parametrize(
    "data",
    [make_png(400, 200, mode="RGBA", orientation=6), make_webp(400, 200, orientation=6)],
    ids=["png-rgba", "webp"],
)
def test_orientation_is_applied_whatever_the_format_and_mode(write: WriteFile, data: bytes) -> None:
    display, _thumb = derive_images(write(data))
    img = _open(display)
    assert img.size == (200, 400)
    assert _close(quadrant_colour(img, "top_right"), QUADRANT_COLOURS["top_left"])


def test_orientation_6_gives_a_portrait_display_image(write: WriteFile) -> None:
    display, _thumb = derive_images(write(make_jpeg(400, 200, orientation=6)))
    assert _open(display).size == (200, 400)


def test_derived_images_carry_no_metadata(write: WriteFile) -> None:
    source = make_jpeg(
        2400, 1800, gps=(28.8, 113.08), altitude=30.0, make="Xiaomi", model="14",
        taken_at=datetime(2026, 3, 14, 6, 37), offset="+08:00", orientation=3,
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        xmp=b"<x:xmpmeta><exif:GPSLatitude>28,48N</exif:GPSLatitude></x:xmpmeta>",
        comment=b"shot at 28.8N 113.08E",
    )  # fmt: skip
    assert read_exif(source).get_ifd(0x8825)  # the source does carry GPS
    for data in derive_images(write(source)):
        img = _open(data)
        assert len(img.getexif()) == 0
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(img.info)
        assert b"Exif" not in data and b"GPS" not in data and b"28.8" not in data


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "CMYK"])
def test_every_source_mode_becomes_rgb(write: WriteFile, mode: str) -> None:
    maker = make_jpeg if mode == "CMYK" else make_png
    red = make_image(2, 2, mode=mode).convert("RGB")  # the quadrant colour as that mode has it
    for data in derive_images(write(maker(200, 100, mode=mode))):
        img = _open(data)
        assert img.mode == "RGB"
        assert _close(quadrant_colour(img, "top_left"), red.getpixel((0, 0)), 40)


def test_embedded_colour_profile_is_converted_to_srgb(write: WriteFile) -> None:
    """The output has no profile, so a photo tagged with another one must be converted."""
    source = make_jpeg(400, 300, quality=95, icc_profile=swapped_primaries_profile())
    display, thumb = derive_images(write(source))
    for img in (_open(display), _open(thumb)):
        assert "icc_profile" not in img.info
        assert _close(quadrant_colour(img, "top_left"), QUADRANT_COLOURS["top_left"][::-1], 50)


def test_transparent_areas_become_white(write: WriteFile) -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (100, 100), (255, 0, 0, 0)).save(buf, "PNG")
    display, _thumb = derive_images(write(buf.getvalue()))
    assert _close(_open(display).getpixel((50, 50)), (255, 255, 255), 8)


def test_sixteen_bit_png_is_scaled_not_clipped_to_white(write: WriteFile) -> None:
    buf = io.BytesIO()
    Image.new("I;16", (100, 100), 32768).save(buf, "PNG")
    display, _thumb = derive_images(write(buf.getvalue()))
    assert _close(_open(display).getpixel((50, 50)), (128, 128, 128), 4)


def test_jpeg_is_decoded_once_at_the_smallest_covering_dct_scale(
    write: WriteFile, monkeypatch
) -> None:
    decoders: list[tuple] = []
    real_getdecoder = Image._getdecoder

    def counting_getdecoder(mode, decoder_name, args, extra=()):
        decoders.append((decoder_name, extra))
        return real_getdecoder(mode, decoder_name, args, extra)

    path = write(make_jpeg(4000, 3000, texture=20))
    monkeypatch.setattr(Image, "_getdecoder", counting_getdecoder)
    info, display, thumb = process_photo(path)
    assert decoders == [("jpeg", (2, 0))]  # libjpeg scale 1/2: 2000 x 1500 covers 1600
    assert (info.width, _open(display).size, _open(thumb).size) == (4000, (1600, 1200), (320, 240))


def test_process_photo_agrees_with_inspect_and_derive(write: WriteFile) -> None:
    path = write(make_jpeg(1200, 900, gps=(28.8, 113.08), orientation=6, texture=10))
    info, display, thumb = process_photo(path, display_max=800, thumb_max=100)
    assert info == inspect_photo(path)
    assert (display, thumb) == derive_images(path, display_max=800, thumb_max=100)
    assert _open(display).size == (600, 800)
