"""Build test photos in memory: JPEG, PNG and WebP with EXIF (GPS, time, camera) we write.

EXIF is written with Pillow's ``Image.Exif`` (GPS IFD 0x8825, Exif IFD 0x8769), so the tests
never depend on a camera's files. The picture is four coloured quadrants, so a test can tell
which way up a derived image is: top-left red, top-right green, bottom-left blue,
bottom-right yellow (see ``QUADRANT_COLOURS`` and ``quadrant_colour``).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from PIL import Image, ImageCms
from PIL.TiffImagePlugin import IFDRational

__all__ = [
    "QUADRANT_COLOURS",
    "corrupt",
    "exif_bytes",
    "make_bomb",
    "make_image",
    "make_jpeg",
    "make_png",
    "make_webp",
    "quadrant_colour",
    "read_exif",
    "swapped_primaries_profile",
    "truncate",
]

GpsForm = Literal["dms", "deg_min", "decimal_degrees", "single"]
Rationals = Sequence[tuple[int, int]]

QUADRANT_COLOURS = {
    "top_left": (220, 30, 30),
    "top_right": (30, 200, 30),
    "bottom_left": (30, 30, 220),
    "bottom_right": (230, 220, 30),
}
# Written as n/1 and patched afterwards into the exact (num, den) pairs a test asked for, since
# Pillow's writer normalises rationals and cannot write a zero denominator.
_PLACEHOLDER_BASE = 0x7E5A0000


def make_image(width: int, height: int, *, texture: float = 0.0, mode: str = "RGB") -> Image.Image:
    """The four-quadrant picture; ``texture`` > 0 adds that much gaussian noise (sigma)."""
    img = Image.new("RGB", (width, height))
    half_w, half_h = max(1, width // 2), max(1, height // 2)
    img.paste(QUADRANT_COLOURS["top_left"], (0, 0, half_w, half_h))
    img.paste(QUADRANT_COLOURS["top_right"], (half_w, 0, width, half_h))
    img.paste(QUADRANT_COLOURS["bottom_left"], (0, half_h, half_w, height))
    img.paste(QUADRANT_COLOURS["bottom_right"], (half_w, half_h, width, height))
    if texture:
        noise = Image.effect_noise((width, height), texture).convert("RGB")
        gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        img = Image.blend(Image.blend(img, gradient, 0.25), noise, 0.35)
    if mode == "P":  # an adaptive palette keeps the four colours exact
        return img.convert("P", palette=Image.Palette.ADAPTIVE)
    return img if mode == "RGB" else img.convert(mode)


def quadrant_colour(img: Image.Image, quadrant: str) -> tuple[int, int, int]:
    """The colour at the centre of one quadrant of ``img`` (RGB)."""
    width, height = img.size
    x = width // 4 if quadrant.endswith("left") else 3 * width // 4
    y = height // 4 if quadrant.startswith("top") else 3 * height // 4
    return img.convert("RGB").getpixel((x, y))  # type: ignore[return-value]


def _dms(value: float, form: GpsForm) -> tuple[IFDRational, ...]:
    value = abs(value)
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    if form == "decimal_degrees":
        return (IFDRational(round(value * 10**7), 10**7), IFDRational(0, 1), IFDRational(0, 1))
    if form == "single":
        return (IFDRational(round(value * 10**7), 10**7),)
    if form == "deg_min":
        minutes = IFDRational(round(minutes_float * 10**6), 10**6)
        return (IFDRational(degrees, 1), minutes, IFDRational(0, 1))
    minutes = int(minutes_float)
    seconds = (minutes_float - minutes) * 60
    return (
        IFDRational(degrees, 1),
        IFDRational(minutes, 1),
        IFDRational(round(seconds * 1000), 1000),
    )


def exif_bytes(
    *,
    gps: tuple[float, float] | None = None,
    gps_form: GpsForm = "dms",
    gps_raw: tuple[Rationals, str, Rationals, str] | None = None,
    altitude: float | None = None,
    taken_at: datetime | None = None,
    offset: str | None = None,
    subsec: str | None = None,
    orientation: int | None = None,
    make: str | None = None,
    model: str | None = None,
) -> bytes:
    """An EXIF block (``Exif\\0\\0`` + TIFF) with the given tags; None leaves a tag out.

    ``gps_raw`` = (lat rationals, lat ref, lon rationals, lon ref) writes exact on-disk
    (num, den) pairs, zero denominators included; it overrides ``gps``.
    """
    exif = Image.Exif()
    for tag, value in ((0x010F, make), (0x0110, model), (0x0112, orientation)):
        if value is not None:
            exif[tag] = value
    sub: dict[int, object] = {}
    if taken_at is not None:
        sub[0x9003] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    if offset is not None:
        sub[0x9011] = offset
    if subsec is not None:
        sub[0x9291] = subsec
    if sub:
        exif[0x8769] = sub
    gps_ifd: dict[int, object] = {0: b"\x02\x03\x00\x00"}
    patches: list[tuple[int, int, int]] = []
    if gps_raw is not None:
        lat_raw, lat_ref, lon_raw, lon_ref = gps_raw
        pairs = [*lat_raw, *lon_raw]
        patches = [(_PLACEHOLDER_BASE + i, num, den) for i, (num, den) in enumerate(pairs)]
        holders = [IFDRational(p[0], 1) for p in patches]
        gps_ifd |= {1: lat_ref, 2: tuple(holders[: len(lat_raw)]), 3: lon_ref}
        gps_ifd[4] = tuple(holders[len(lat_raw) :])
    elif gps is not None:
        lat, lon = gps
        gps_ifd |= {1: "N" if lat >= 0 else "S", 2: _dms(lat, gps_form)}
        gps_ifd |= {3: "E" if lon >= 0 else "W", 4: _dms(lon, gps_form)}
    if altitude is not None:
        gps_ifd[5] = 1 if altitude < 0 else 0
        gps_ifd[6] = IFDRational(round(abs(altitude) * 100), 100)
    if len(gps_ifd) > 1:
        exif[0x8825] = gps_ifd
    data = exif.tobytes()
    return _patch_rationals(data, patches)


def _patch_rationals(data: bytes, patches: list[tuple[int, int, int]]) -> bytes:
    endian = "<" if data[6:8] == b"II" else ">"
    for placeholder, num, den in patches:
        old = struct.pack(f"{endian}LL", placeholder, 1)
        assert data.count(old) == 1, "placeholder rational not found exactly once"
        data = data.replace(old, struct.pack(f"{endian}LL", num, den))
    return data


def _encode(img: Image.Image, fmt: str, exif: bytes, **params: object) -> bytes:
    buf = io.BytesIO()
    if len(exif) > len(Image.Exif().tobytes()):
        params["exif"] = exif
    img.save(buf, fmt, **params)
    return buf.getvalue()


def make_jpeg(
    width: int = 64,
    height: int = 48,
    *,
    quality: int = 85,
    texture: float = 0.0,
    mode: str = "RGB",
    icc_profile: bytes | None = None,
    xmp: bytes | None = None,
    comment: bytes | None = None,
    **exif: object,
) -> bytes:
    """A JPEG of the quadrant picture; other keyword arguments as for ``exif_bytes``.

    ``icc_profile``, ``xmp`` and ``comment`` add an APP2 profile, an XMP packet, a COM segment.
    """
    params: dict[str, object] = {"quality": quality}
    extras = {"icc_profile": icc_profile, "xmp": xmp, "comment": comment}
    params |= {key: value for key, value in extras.items() if value is not None}
    img = make_image(width, height, texture=texture, mode=mode)
    return _encode(img, "JPEG", exif_bytes(**exif), **params)  # type: ignore[arg-type]


def make_png(width: int = 64, height: int = 48, *, mode: str = "RGB", **exif: object) -> bytes:
    """A PNG of the quadrant picture (any Pillow ``mode``), EXIF in an eXIf chunk."""
    img = make_image(width, height, mode=mode)
    return _encode(img, "PNG", exif_bytes(**exif))  # type: ignore[arg-type]


def make_webp(
    width: int = 64, height: int = 48, *, lossless: bool = False, **exif: object
) -> bytes:
    """A WebP of the quadrant picture, EXIF in its EXIF chunk."""
    img = make_image(width, height)
    return _encode(img, "WEBP", exif_bytes(**exif), lossless=lossless, quality=90)  # type: ignore[arg-type]


def swapped_primaries_profile() -> bytes:
    """An RGB ICC profile that is sRGB with red and blue primaries swapped, named "swap".

    A colour-managed reader shows a red pixel tagged with it as blue, so a test can tell
    whether the embedded profile was honoured.
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", profile[128:132])[0]
    entries = {bytes(profile[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"] + 4, entries[b"bXYZ"] + 4
    profile[red : red + 8], profile[blue : blue + 8] = (
        profile[blue : blue + 8],
        profile[red : red + 8],
    )
    return bytes(profile).replace("sRGB".encode("utf-16-be"), "swap".encode("utf-16-be"))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG a few hundred bytes long that declares ``width`` x ``height`` pixels.

    Its IDAT holds a little zlib data: whatever checks the size must do so from the header.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def truncate(data: bytes, fraction: float = 0.5) -> bytes:
    """The first ``fraction`` of ``data``, like an upload cut off mid-way."""
    return data[: int(len(data) * fraction)]


def corrupt(data: bytes, *, start: float = 0.5, length: int = 512, seed: int = 7) -> bytes:
    """``data`` with ``length`` bytes from ``start`` (fraction) replaced by pseudo-random bytes."""
    import random

    rng = random.Random(seed)
    at = int(len(data) * start)
    noise = bytes(rng.randrange(256) for _ in range(min(length, len(data) - at - 2)))
    return data[:at] + noise + data[at + len(noise) :]


def read_exif(data: bytes) -> Image.Exif:
    """The EXIF Pillow finds in encoded image ``data`` (empty if none)."""
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif()
