"""Photos on the device: shrink before sending, read place and time, keep them safely on disk.

``prepare_photo`` re-encodes a photo whose long side exceeds 2048 px (a 12 MP phone photo of
3 to 5 MB becomes a few hundred KB on a thin pipe), keeping the EXIF that matters to a case
(GPS, capture time, camera) and the Orientation tag; the pixels are never rotated, so the tag
still tells viewers how to turn them. A photo small enough already is sent byte for byte.

The re-encoded file has a size target: at most ``MAX_SEND_RATIO`` (a quarter) of the
original. Quality 85 meets it for most scenes, but a flat one (a wall notice, a sheet of
paper) was shot by the phone at a high quality that costs it little, and at 2048 px and
quality 85 keeps about 0.26 of its bytes; such a photo is encoded again at a lower quality
(80, 75, ... down to 50, still legible for a notice), and only a photo that misses the target
even then is made smaller. The pixels are resized once; each further try is an encode.

``PhotoStore`` is the outbox's content-addressed folder: every file is named by its sha256 and
written with temp file, fsync, rename, fsync of the folder, so a crash leaves either the whole
file or nothing under its name.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Collection
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from PIL import ExifTags, Image

__all__ = [
    "MAX_SEND_RATIO",
    "ExifPoint",
    "PhotoStore",
    "PreparedPhoto",
    "file_sha256",
    "prepare_photo",
    "read_exif_point_and_time",
]

_CHUNK = 1 << 20
_IFD0_KEPT = (
    ExifTags.Base.Make,
    ExifTags.Base.Model,
    ExifTags.Base.Orientation,
    ExifTags.Base.DateTime,
)
_EXIF_KEPT = (
    ExifTags.Base.DateTimeOriginal,
    ExifTags.Base.OffsetTimeOriginal,
    ExifTags.Base.SubsecTimeOriginal,
)
_EXIF_TIME = "%Y:%m:%d %H:%M:%S"
# A re-encoded photo keeps at most this share of the original's bytes.
MAX_SEND_RATIO = 0.25
# Room left under the target for what travels with the file (tus requests' headers), so
# the bytes on the wire keep the ratio too.
_WIRE_HEADROOM = 8 * 1024
_QUALITY_STEP, _MIN_QUALITY, _MIN_SIDE = 5, 50, 1024


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    """The file to send: ``path`` is ``src`` itself when ``reencoded`` is False."""

    path: Path
    sha256: str
    size: int
    reencoded: bool


class ExifPoint(NamedTuple):
    """Where and when a photo was taken, from its EXIF (``taken_at`` may be None)."""

    lat: float
    lon: float
    taken_at: datetime | None


def prepare_photo(
    src: Path | str,
    dest_dir: Path | str,
    *,
    max_side: int = 2048,
    quality: int = 85,
    max_ratio: float | None = MAX_SEND_RATIO,
) -> PreparedPhoto:
    """Shrink a photo whose long side exceeds ``max_side`` to a JPEG in ``dest_dir``.

    The JPEG is encoded at ``quality``, lower if that is needed to keep it within
    ``max_ratio`` of the original's bytes (None: no size target; see the module docstring).
    EXIF GPS, DateTimeOriginal, OffsetTimeOriginal, Make, Model and Orientation survive; the
    pixels are not rotated. A photo within ``max_side`` (or one that re-encoding would not
    make smaller) is left untouched and its own path is returned. Raises
    PIL.UnidentifiedImageError for a file that is not an image.
    """
    src = Path(src)
    original = src.stat().st_size
    budget = None if max_ratio is None else max(1, int(original * max_ratio) - _WIRE_HEADROOM)
    with Image.open(src) as img:
        if max(img.size) <= max_side:
            return _as_is(src)
        data = _reencode(img, max_side, quality, budget)
    if len(data) >= original:
        return _as_is(src)
    sha = hashlib.sha256(data).hexdigest()
    dest = Path(dest_dir) / f"{sha}.jpg"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, dest)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return PreparedPhoto(dest, sha, len(data), reencoded=True)


def read_exif_point_and_time(
    path: Path | str, *, default_tz: tzinfo | None = None
) -> ExifPoint | None:
    """The GPS point and capture time in a photo's EXIF, or None if it has no usable point.

    ``taken_at`` comes from DateTimeOriginal with OffsetTimeOriginal; failing the offset,
    from the GPS time stamp (UTC); failing that, DateTimeOriginal in ``default_tz`` (naive
    when None). Raises PIL.UnidentifiedImageError for a file that is not an image.
    """
    with Image.open(path) as img:
        exif = img.getexif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    # Cameras without a fix often write 0/0; nobody patrols a grid in the Gulf of Guinea.
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return ExifPoint(lat, lon, _taken_at(exif, gps, default_tz))


class PhotoStore:
    """A folder of photo files named by their sha256, written crash-safely."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the file with this sha256 lives (it may not exist)."""
        return self.root / sha256

    def put(self, src: Path | str) -> tuple[str, int]:
        """Copy ``src`` in (temp file, fsync, rename, fsync folder); return (sha256, size)."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out, Path(src).open("rb") as inp:
                while chunk := inp.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            # The name is the content, so replacing an existing copy changes nothing.
            os.replace(tmp, self.root / sha)
            _fsync_dir(self.root)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return sha, size

    def remove(self, sha256: str) -> None:
        """Delete a file if it is there."""
        with suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def prune(self, keep: Collection[str]) -> int:
        """Delete every file (temp files included) not named in ``keep``; return how many."""
        removed = 0
        for entry in self.root.iterdir():
            if entry.name not in keep:
                with suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
        return removed


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _as_is(src: Path) -> PreparedPhoto:
    return PreparedPhoto(src, file_sha256(src), src.stat().st_size, reencoded=False)


def _reencode(img: Image.Image, max_side: int, quality: int, budget: int | None) -> bytes:
    """The JPEG at ``quality``, or lower (then smaller) until it fits ``budget`` bytes."""
    scale = max_side / max(img.size)
    target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    exif = _kept_exif(img.getexif()).tobytes()
    icc = img.info.get("icc_profile")
    # JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale, never below target.
    img.draft(None, target)
    pixels = img if img.mode in ("RGB", "L") else img.convert("RGB")
    small = pixels.resize(target, Image.Resampling.LANCZOS)
    data = _encode(small, quality, exif, icc)
    while budget is not None and len(data) > budget:
        if quality > _MIN_QUALITY:
            quality = max(_MIN_QUALITY, quality - _QUALITY_STEP)
        elif max(small.size) > _MIN_SIDE:
            # Even quality 50 misses the target (a photo of pure grain): fewer pixels.
            side = max(_MIN_SIDE, round(max(small.size) * 0.8))
            ratio = side / max(small.size)
            small = small.resize((max(1, round(small.width * ratio)),
                                  max(1, round(small.height * ratio))),
                                 Image.Resampling.LANCZOS)
        else:
            break  # sent as it is now: smaller than the original, if not a quarter of it
        data = _encode(small, quality, exif, icc)
    return data


def _encode(img: Image.Image, quality: int, exif: bytes, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True, exif=exif, icc_profile=icc)
    return out.getvalue()


def _kept_exif(source: Image.Exif) -> Image.Exif:
    """Only the tags a case needs; the old thumbnail and pixel sizes would be wrong now."""
    kept = Image.Exif()
    for tag in _IFD0_KEPT:
        if tag in source:
            kept[tag] = source[tag]
    exif_ifd = source.get_ifd(ExifTags.IFD.Exif)
    times = {tag: exif_ifd[tag] for tag in _EXIF_KEPT if tag in exif_ifd}
    if times:
        kept[ExifTags.IFD.Exif] = times
    gps = source.get_ifd(ExifTags.IFD.GPSInfo)
    if gps:
        kept[ExifTags.IFD.GPSInfo] = dict(gps)
    return kept


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if value != value:  # NaN from a 0/0 rational
        return None
    return -value if str(ref).strip().upper() == negative else value


def _taken_at(exif: Image.Exif, gps: dict[int, Any], default_tz: tzinfo | None) -> datetime | None:
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    local = _parse(exif_ifd.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime))
    offset = exif_ifd.get(ExifTags.Base.OffsetTimeOriginal)
    if local is not None and offset:
        with suppress(ValueError):
            return local.replace(tzinfo=datetime.strptime(str(offset).strip(), "%z").tzinfo)
    utc = _gps_time(gps)
    if utc is not None:
        return utc
    if local is not None and default_tz is not None:
        return local.replace(tzinfo=default_tz)
    return local


def _gps_time(gps: dict[int, Any]) -> datetime | None:
    day = _parse(gps.get(ExifTags.GPS.GPSDateStamp), "%Y:%m:%d")
    stamp = gps.get(ExifTags.GPS.GPSTimeStamp)
    if day is None or not stamp:
        return None
    try:
        h, m, s = (float(x) for x in stamp)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return day.replace(tzinfo=UTC) + timedelta(hours=h, minutes=m, seconds=s)


def _parse(value: Any, fmt: str = _EXIF_TIME) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(str(value).strip("\x00 "), fmt)
    except ValueError:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
