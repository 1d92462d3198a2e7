"""Photo checks without Flask: decide by decoding, read EXIF, derive display and thumb images.

Every decision is made from the bytes: the magic number picks the one Pillow plugin allowed
to parse the file, the header gives the pixel count before any pixel is decoded, and a decode
proves the file whole. Derived images come from one JPEG decode at a reduced DCT scale.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import numbers
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from server.storage.jpeg_scans import MAX_JPEG_SCANS, count_scans

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MIME_TYPES",
    "ExifInfo",
    "PhotoInfo",
    "PhotoRejectedError",
    "derive_images",
    "inspect_photo",
    "parse_exif",
    "process_photo",
    "sniff_format",
]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 60_000_000

MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}
_PIL_FORMATS = {"jpeg": ["JPEG"], "png": ["PNG"], "webp": ["WEBP"], "heic": ["HEIF"]}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1"}
_TITLES = {
    "unsupported_media_type": "Unsupported media type",
    "photo_too_large": "Photo too large",
    "too_many_pixels": "Too many pixels",
    "corrupt_image": "Corrupt image",
    "too_many_scans": "Too many JPEG scans",
}
_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_EXIF_TIME = re.compile(r"(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d):(\d\d)")
_EXIF_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoRejectedError(Exception):
    """A received file is not an acceptable photo; carries its HTTP status and problem slug."""

    def __init__(self, status: int, problem_type: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.problem_type = problem_type
        self.detail = detail

    @property
    def title(self) -> str:
        """Short human title for the problem document."""
        return _TITLES.get(self.problem_type, "Photo rejected")


@dataclass(frozen=True)
class ExifInfo:
    """What a photo's EXIF says about where, when and with what it was taken."""

    lat: float | None = None
    lon: float | None = None
    altitude_m: float | None = None
    taken_at: datetime | None = None
    make: str | None = None
    model: str | None = None
    orientation: int | None = None


@dataclass(frozen=True)
class PhotoInfo:
    """A checked photo: its identity, decoded format, upright size and EXIF."""

    sha256: str
    size_bytes: int
    format: str
    mime: str
    width: int
    height: int
    exif: ExifInfo


def _rejected_unsupported(detail: str) -> PhotoRejectedError:
    return PhotoRejectedError(415, "unsupported_media_type", detail)


def _rejected_corrupt(fmt: str) -> PhotoRejectedError:
    return PhotoRejectedError(422, "corrupt_image", f"The {fmt.upper()} data could not be decoded.")


def _rejected_pixels(max_pixels: int, size: tuple[int, int] | None = None) -> PhotoRejectedError:
    declared = f" ({size[0]} x {size[1]})" if size else ""
    return PhotoRejectedError(
        422, "too_many_pixels", f"The image{declared} has more than {max_pixels:,} pixels."
    )


def sniff_format(head: bytes) -> str | None:
    """Name the accepted format whose magic number starts ``head``, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


@functools.cache
def _heif_available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


@contextmanager
def _open_photo(path: Path, max_pixels: int) -> Iterator[tuple[Image.Image, str]]:
    """Open ``path`` with the one plugin its magic number names and check its declared size."""
    with path.open("rb") as fp:
        fmt = sniff_format(fp.read(16))
        fp.seek(0)
        if fmt is None:
            raise _rejected_unsupported("The file is not a JPEG, PNG or WebP image.")
        if fmt == "heic" and not _heif_available():
            raise _rejected_unsupported("HEIC photos are not accepted by this server.")
        if fmt == "jpeg":
            scans = count_scans(fp)
            fp.seek(0)
            if scans > MAX_JPEG_SCANS:
                raise PhotoRejectedError(
                    422, "too_many_scans", f"The JPEG has more than {MAX_JPEG_SCANS} scans "
                    "(a camera writes at most a few dozen); it is refused before decoding.")
        try:
            img = Image.open(fp, formats=_PIL_FORMATS[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _rejected_pixels(max_pixels) from exc
        except Exception as exc:  # a parser fed hostile bytes may raise anything: all mean corrupt
            raise _rejected_corrupt(fmt) from exc
        with img:
            if img.width * img.height > max_pixels:
                raise _rejected_pixels(max_pixels, img.size)
            yield img, fmt


def _decode(img: Image.Image, fmt: str, long_side: int, max_pixels: int) -> tuple[int, int]:
    """Decode every byte of ``img``; JPEG at the smallest DCT scale still covering ``long_side``.

    Returns the size the header declared, before any draft scaling.
    """
    declared = img.size
    if fmt == "jpeg" and max(declared) > long_side:
        ratio = long_side / max(declared)
        img.draft("RGB", (math.ceil(declared[0] * ratio), math.ceil(declared[1] * ratio)))
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _rejected_pixels(max_pixels) from exc
    except Exception as exc:  # truncated, broken stream, bad tables: all one answer
        raise _rejected_corrupt(fmt) from exc
    return declared


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _photo_info(
    path: Path, fmt: str, size: tuple[int, int], exif: ExifInfo, sha256: str | None
) -> PhotoInfo:
    width, height = size
    if exif.orientation in (5, 6, 7, 8):
        width, height = height, width
    return PhotoInfo(
        sha256=sha256 or _file_sha256(path),
        size_bytes=path.stat().st_size,
        format=fmt,
        mime=MIME_TYPES[fmt],
        width=width,
        height=height,
        exif=exif,
    )


def inspect_photo(
    path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, sha256: str | None = None
) -> PhotoInfo:
    """Check that ``path`` is a whole, acceptable photo and read its EXIF.

    The decode that proves the file whole runs at 1/8 DCT scale for JPEG (every entropy-coded
    byte is still read). Pass ``sha256`` when the caller already hashed the file.
    """
    with _open_photo(path, max_pixels) as (img, fmt):
        size = _decode(img, fmt, max(1, max(img.size) // 8), max_pixels)
        return _photo_info(path, fmt, size, parse_exif(img), sha256)


def derive_images(
    path: Path,
    *,
    display_max: int = 1600,
    thumb_max: int = 320,
    quality: int = 82,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[bytes, bytes]:
    """Return (display JPEG, thumb JPEG): upright, RGB, sRGB, free of all metadata."""
    with _open_photo(path, max_pixels) as (img, fmt):
        _decode(img, fmt, display_max, max_pixels)
        return _render(img, display_max, thumb_max, quality)


def process_photo(
    path: Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    display_max: int = 1600,
    thumb_max: int = 320,
    quality: int = 82,
    sha256: str | None = None,
) -> tuple[PhotoInfo, bytes, bytes]:
    """Inspect and derive in one decode: (PhotoInfo, display JPEG, thumb JPEG)."""
    with _open_photo(path, max_pixels) as (img, fmt):
        size = _decode(img, fmt, display_max, max_pixels)
        info = _photo_info(path, fmt, size, parse_exif(img), sha256)
        display, thumb = _render(img, display_max, thumb_max, quality)
        return info, display, thumb


def _render(
    img: Image.Image, display_max: int, thumb_max: int, quality: int
) -> tuple[bytes, bytes]:
    icc = img.info.get("icc_profile")
    # ImageOps.exif_transpose's table, applied after shrinking (fewer pixels to turn) and read
    # through parse_exif, which survives the broken EXIF blocks exif_transpose would raise on.
    method = _UPRIGHT.get(parse_exif(img).orientation or 1)
    display = _color_managed(_fit(_to_rgb_or_cmyk(img), display_max), icc)
    if method is not None:
        display = display.transpose(method)
    thumb = _fit(display, thumb_max)
    return _jpeg_bytes(display, quality), _jpeg_bytes(thumb, quality)


def _to_rgb_or_cmyk(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "CMYK", "L"):
        return img
    if img.mode.startswith("I"):
        # 16-bit PNGs: scale to 8 bits instead of letting convert() clip everything to white.
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def _fit(img: Image.Image, box: int) -> Image.Image:
    width, height = img.size
    if max(width, height) <= box:
        return img
    scale = box / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _color_managed(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert to sRGB RGB: the output carries no profile, so its pixels must already be sRGB."""
    if icc and img.mode in ("RGB", "CMYK"):
        from PIL import ImageCms

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if not ImageCms.getProfileDescription(source).strip().startswith("sRGB"):
                converted = ImageCms.profileToProfile(
                    img, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
                )
                if converted is not None:
                    return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile is common enough; show the pixels as they are
    return img if img.mode == "RGB" else img.convert("RGB")


def _jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    # Nothing from the source may ride along into what a browser fetches (GPS, comments, XMP).
    img.info = {}
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def parse_exif(img: Image.Image | Image.Exif | Mapping[int, Any]) -> ExifInfo:
    """Read GPS, altitude, capture time, camera and orientation; anything malformed is None.

    A latitude/longitude of exactly (0, 0) is what phones write without a fix: it reads None.
    """
    try:
        exif: Mapping[int, Any] = img.getexif() if isinstance(img, Image.Image) else img
        gps, sub = _sub_ifd(exif, _GPS_IFD), _sub_ifd(exif, _EXIF_IFD)
    except Exception:  # EXIF comes from phones and editors; a broken block is never fatal
        return ExifInfo()
    lat, lon = _gps_point(gps)
    return ExifInfo(
        lat=lat,
        lon=lon,
        altitude_m=_altitude(gps),
        taken_at=_taken_at(sub),
        make=_text(exif.get(0x010F)),
        model=_text(exif.get(0x0110)),
        orientation=_orientation(exif.get(0x0112)),
    )


def _sub_ifd(exif: Mapping[int, Any], tag: int) -> Mapping[int, Any]:
    value = exif.get(tag)
    if isinstance(value, Mapping):  # an Exif built in memory, or a plain dict
        return value
    if isinstance(exif, Image.Exif):
        return exif.get_ifd(tag)
    return {}


def _number(value: Any) -> float | None:
    """One EXIF number as float: IFDRational, (num, den), int, float or numeric text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        value = (value[0] / value[1]) if value[1] else None
    elif isinstance(value, numbers.Rational):
        value = float(value) if value.denominator else None
    elif isinstance(value, (str, bytes)):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            value = float(text.strip("\x00 "))
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _coordinate(value: Any) -> float | None:
    """Degrees from 1 to 3 parts (deg, min, sec), whichever form the writer chose."""
    if not isinstance(value, (tuple, list)):
        value = (value,)
    if len(value) == 6 and all(isinstance(v, int) for v in value):
        value = tuple(zip(value[::2], value[1::2], strict=True))
    parts = [_number(v) for v in value]
    known = [p for p in parts if p is not None]
    # EXIF writes unsigned parts (the sign is in the ref): a negative one is not a place.
    if not 1 <= len(parts) <= 3 or len(known) != len(parts) or min(known) < 0:
        return None
    return sum(p / 60**i for i, p in enumerate(known))


def _ref(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ").upper()[:1] if isinstance(value, str) else ""


def _gps_point(gps: Mapping[int, Any]) -> tuple[float | None, float | None]:
    lat, lon = _coordinate(gps.get(2)), _coordinate(gps.get(4))
    if lat is None or lon is None:
        return None, None
    if _ref(gps.get(1)) == "S":
        lat = -abs(lat)
    if _ref(gps.get(3)) == "W":
        lon = -abs(lon)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat == lon == 0:
        return None, None
    return lat, lon


def _altitude(gps: Mapping[int, Any]) -> float | None:
    raw = gps.get(6)
    altitude = _number(raw[0] if isinstance(raw, tuple) and len(raw) == 1 else raw)
    if altitude is None:
        return None
    ref = gps.get(5)
    below = ref in (1, b"\x01", "1") or (isinstance(ref, tuple) and ref[:1] == (1,))
    return -abs(altitude) if below else altitude


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    # EXIF text ends at its first NUL; what follows is padding (PostgreSQL cannot store NUL).
    return value.strip("\x00 \t\r\n").split("\x00", 1)[0].strip() or None


def _orientation(value: Any) -> int | None:
    if isinstance(value, tuple) and value:
        value = value[0]
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _taken_at(sub: Mapping[int, Any]) -> datetime | None:
    """DateTimeOriginal (+ SubSecTimeOriginal); aware only when OffsetTimeOriginal says so."""
    match = _EXIF_TIME.match(_text(sub.get(0x9003)) or "")
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        taken = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None
    subsec = _text(sub.get(0x9291))
    if subsec and subsec.isdigit():
        taken = taken.replace(microsecond=int(subsec[:6].ljust(6, "0")))
    offset = _EXIF_OFFSET.fullmatch(_text(sub.get(0x9011)) or "")
    if offset is not None:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta < timedelta(hours=24):
            taken = taken.replace(tzinfo=timezone(-delta if sign == "-" else delta))
    return taken
