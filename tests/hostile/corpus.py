"""The hostile corpus: bad photos and bad requests, built in code, the same bytes on every run.

``files()`` are sent as the photo through every channel (one-shot ``POST /api/v1/photos``,
tus creation then PATCH, tus creation-with-upload); ``one_shot_attacks()`` and
``tus_attacks()`` are requests that only make sense on one channel. Every entry has a name,
a one-line note of what it attacks, and the answer the server owes: a problem (status and
slug) or, for the few files that are acceptable photos however odd, acceptance with the
values the photo row must hold.

The tests run with ``MAX_PHOTO_BYTES = LIMIT`` so "far beyond the limit" stays cheap.
Hostile spreadsheets, for the imports, are in ``sheets.py`` beside this module.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import io
import math
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.server.storage.imagegen import corrupt, make_bomb, make_jpeg, make_png, truncate

__all__ = ["LIMIT", "BOUNDARY", "Outcome", "ACCEPTED", "refused", "FileEntry", "OneShotAttack",
           "Patch", "TusAttack", "files", "one_shot_attacks", "tus_attacks", "exif_tiff",
           "gps_tags", "exif_jpeg", "multipart"]

LIMIT = 2 * 1024 * 1024  # MAX_PHOTO_BYTES while the corpus runs
MIB = 1024 * 1024  # the tus service commits progress every MiB
BOUNDARY = "hostileboundary"
_SCRIPT = b"<script>alert(document.cookie)</script>"


@dataclass(frozen=True)
class Outcome:
    """What the server must answer: a problem (status, slug) or acceptance (status None)."""

    status: int | None
    slug: str | None = None

    @property
    def accepted(self) -> bool:
        """The entry is an acceptable photo and must be stored."""
        return self.status is None


ACCEPTED = Outcome(None)


def refused(status: int, slug: str | None = None) -> Outcome:
    """The problem the server must answer."""
    return Outcome(status, slug)


@dataclass(frozen=True)
class FileEntry:
    """A file sent as the photo, with the name and client_uuid it is sent under."""

    name: str
    note: str
    data: bytes
    expect: Outcome
    tus_expect: Outcome | None = None  # when tus answers otherwise (its metadata is a header)
    filename: str = "photo.jpg"
    client_uuid: str | None = None  # None: the test makes a fresh one
    fields: Mapping[str, Any] = field(default_factory=dict)  # the photo row of an accepted one

    def outcome(self, channel: str) -> Outcome:
        """The answer owed on ``channel`` (``photos`` or ``tus``)."""
        return self.tus_expect if channel == "tus" and self.tus_expect else self.expect


@dataclass(frozen=True)
class OneShotAttack:
    """A hostile ``POST /api/v1/photos`` body."""

    name: str
    note: str
    content_type: str
    body: bytes
    expect: Outcome


@dataclass(frozen=True)
class Patch:
    """A PATCH sent to the upload just created (``chunked``: no Content-Length)."""

    body: bytes
    offset: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    chunked: bool = False


@dataclass(frozen=True)
class TusAttack:
    """A hostile tus exchange: a creation, then optionally one PATCH or a request on ``path``.

    ``create_headers`` override the well-formed ones (a None value drops the header).
    """

    name: str
    note: str
    expect: Outcome
    length: int = 4096
    create_headers: Mapping[str, str | None] = field(default_factory=dict)
    create_body: bytes | None = None
    patch: Patch | None = None
    path: str | None = None  # a hostile upload URL, tried with HEAD, PATCH and DELETE


# --- EXIF written byte by byte (types and values no well-behaved writer produces) ---------

_TYPES = {"ascii": (2, "s"), "short": (3, "H"), "long": (4, "I"), "rational": (5, "II"),
          "srational": (10, "ii"), "double": (12, "d")}
Tag = tuple[int, str, Any]  # (tag, type name, value: bytes for ascii, else a tuple)


def _value(kind: str, value: Any) -> tuple[int, int, bytes]:
    code, fmt = _TYPES[kind]
    if kind == "ascii":
        return code, len(value), value
    flat = [v for item in value for v in (item if isinstance(item, tuple) else (item,))]
    return code, len(value), struct.pack(f"<{fmt[0] * len(flat)}", *flat)


def _ifd(tags: list[Tag], start: int, next_ifd: int = 0) -> bytes:
    """One little-endian IFD at file offset ``start``, its out-of-line values after it."""
    head, blob = struct.pack("<H", len(tags)), b""
    data_at = start + 2 + 12 * len(tags) + 4
    for tag, kind, value in sorted(tags, key=lambda t: t[0]):
        code, count, raw = _value(kind, value)
        if len(raw) <= 4:
            head += struct.pack("<HHI", tag, code, count) + raw.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, code, count, data_at + len(blob))
            blob += raw + b"\0" * (len(raw) % 2)
    return head + struct.pack("<I", next_ifd) + blob


def exif_tiff(ifd0: list[Tag], gps: list[Tag] | None = None, sub: list[Tag] | None = None,
              *, gps_pointer: int | None = None, ifd0_next: int = 0) -> bytes:
    """An ``Exif\\0\\0`` APP1 payload with IFD0, and a GPS IFD and Exif IFD after it.

    ``gps_pointer`` overrides where IFD0 says the GPS IFD is; ``ifd0_next`` is IFD0's link.
    """
    pointers = [t for t, body in ((0x8825, gps), (0x8769, sub)) if body is not None]
    tags = ifd0 + [(t, "long", (0,)) for t in pointers]
    size = len(_ifd(tags, 8))
    offsets, at, tail = {}, 8 + size, b""
    for tag, body in ((0x8825, gps), (0x8769, sub)):
        if body is not None:
            offsets[tag] = at
            block = _ifd(body, at)
            tail, at = tail + block, at + len(block)
    if gps_pointer is not None:
        offsets[0x8825] = gps_pointer
    tags = ifd0 + [(t, "long", (offsets[t],)) for t in pointers]
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + _ifd(tags, 8, ifd0_next) + tail


def gps_tags(lat: Any, lon: Any = ((113, 1), (4, 1), (26, 1)), *, kind: str = "rational",
             lat_ref: bytes = b"N\0") -> list[Tag]:
    """A GPS IFD: version, refs N and E, latitude and longitude of EXIF type ``kind``."""
    return [(0, "short", (2,)), (1, "ascii", lat_ref), (2, kind, lat),
            (3, "ascii", b"E\0"), (4, kind, lon)]


def exif_jpeg(exif: bytes) -> bytes:
    """A 64 x 48 JPEG carrying the APP1 payload ``exif`` verbatim."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 40)).save(out, "JPEG", quality=80, exif=exif)
    return out.getvalue()


def _camera(make: bytes) -> bytes:
    return exif_tiff([(0x010F, "ascii", make), (0x0110, "ascii", b"P60\0")])


def _taken(stamp: bytes, offset: bytes | None = None) -> bytes:
    sub: list[Tag] = [(0x9003, "ascii", stamp)]
    if offset is not None:
        sub.append((0x9011, "ascii", offset))
    return exif_tiff([], sub=sub)


# --- images whose headers lie -------------------------------------------------------------


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small baseline JPEG whose SOF0 header claims ``width`` x ``height``."""
    data = bytearray(make_jpeg(64, 48))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _jpeg_bad_tables() -> bytes:
    data = bytearray(make_jpeg(320, 240, texture=20))
    dht = data.index(b"\xff\xc4")
    data[dht + 5:dht + 40] = b"\xff" * 35
    return bytes(data)


def _jpeg_many_scans(copies: int) -> bytes:
    """A progressive 2,000 x 1,500 JPEG whose last scan is repeated ``copies`` times.

    Each scan is about a dozen bytes, and libjpeg walks every block of the image for each:
    decoded, 20,000 copies (300 kB) cost over a minute of CPU.
    """
    out = io.BytesIO()
    Image.new("RGB", (2000, 1500), (120, 130, 140)).save(out, "JPEG", progressive=True)
    data = out.getvalue()
    start = data.rindex(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[start:end] * copies + data[end:]


def _webp_declaring(side: int) -> bytes:
    """An extended (VP8X) WebP whose canvas claims ``side`` x ``side``."""
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, "WEBP", exif=_camera(b"X\0"))
    data = bytearray(out.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27] = (side - 1).to_bytes(3, "little")
    data[27:30] = (side - 1).to_bytes(3, "little")
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_chunk(kind: bytes, body: bytes) -> bytes:
    png = make_png(32, 32)
    end = png.rindex(b"IEND") - 4
    return png[:end] + _png_chunk(kind, body) + png[end:]


def _png_strip(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, "PNG")
    return out.getvalue()


def _png_bad_idat() -> bytes:
    data = bytearray(make_png(256, 256, mode="RGB"))
    idat = data.index(b"IDAT")
    data[idat + 20:idat + 60] = bytes(range(40))
    return bytes(data)


def _zip(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return out.getvalue()


def _other_format(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, fmt)
    return out.getvalue()


_HTML = b"<!DOCTYPE html><html><body>" + _SCRIPT + b"</body></html>\n"
_SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" '
        b'height="48" onload="alert(1)"><script>alert(2)</script></svg>\n')
_NO_GPS = {"exif_lat": None, "exif_lon": None}
_HEIF = importlib.util.find_spec("pillow_heif") is not None


@functools.cache
def files() -> tuple[FileEntry, ...]:
    """Every hostile file, in a fixed order."""
    jpeg = make_jpeg(800, 600, texture=30)
    bad_meta = refused(400, "invalid_metadata")
    return (
        FileEntry("truncated_jpeg", "a JPEG cut off half way, as a dropped upload leaves it",
                  truncate(jpeg, 0.5), refused(422, "corrupt_image")),
        FileEntry("jpeg_header_only", "the first 300 bytes of a JPEG: headers, no scan data",
                  jpeg[:300], refused(422, "corrupt_image")),
        FileEntry("jpeg_soi_eoi", "start and end markers with nothing between",
                  b"\xff\xd8\xff\xd9", refused(422, "corrupt_image")),
        FileEntry("corrupt_jpeg_scan", "4 kB of noise over the entropy-coded data",
                  corrupt(jpeg, start=0.5, length=4000), refused(422, "corrupt_image")),
        FileEntry("corrupt_jpeg_tables", "a Huffman table overwritten with 0xFF",
                  _jpeg_bad_tables(), refused(422, "corrupt_image")),
        FileEntry("jpeg_magic_then_html", "JPEG magic number, then an HTML page",
                  b"\xff\xd8\xff\xe0" + _HTML, refused(422, "corrupt_image")),
        FileEntry("png_corrupt_idat", "a PNG whose compressed pixel data is overwritten",
                  _png_bad_idat(), refused(422, "corrupt_image")),
        FileEntry("jpeg_zip_polyglot",
                  "a valid JPEG with a ZIP archive appended (also a valid .zip): accepted, "
                  "as phones append data after EOI (motion photos); browsers only ever get "
                  "re-encoded images", jpeg + _zip("payload.html", _HTML), ACCEPTED),
        FileEntry("jpeg_html_polyglot",
                  "a valid JPEG carrying an HTML page with a script in a COM segment: "
                  "accepted, the script never reaches a browser",
                  make_jpeg(64, 48, comment=_HTML), ACCEPTED),
        FileEntry("jpeg_scan_bomb", "a progressive JPEG with 20,000 empty scans: minutes of "
                  "CPU if decoded, refused from its markers", _jpeg_many_scans(20_000),
                  refused(422, "too_many_scans")),
        FileEntry("jpeg_progressive_ok", "a progressive JPEG as cameras write it (10 scans)",
                  _jpeg_many_scans(0), ACCEPTED),
        FileEntry("png_bomb", "a 300-byte PNG declaring 100,000 x 100,000 pixels",
                  make_bomb(), refused(422, "too_many_pixels")),
        FileEntry("jpeg_bomb", "a small JPEG declaring 65,500 x 65,500 (Pillow's own bomb "
                  "error)", _jpeg_declaring(65_500, 65_500), refused(422, "too_many_pixels")),
        FileEntry("jpeg_bomb_warning_band", "declares 12,000 x 12,000: where Pillow only "
                  "warns", _jpeg_declaring(12_000, 12_000), refused(422, "too_many_pixels")),
        FileEntry("jpeg_just_over_limit", "declares 9,000 x 9,000: under Pillow's limits, "
                  "over ours", _jpeg_declaring(9_000, 9_000), refused(422, "too_many_pixels")),
        FileEntry("webp_bomb", "a WebP canvas declaring 16,383 x 16,383",
                  _webp_declaring(16_383), refused(422)),
        FileEntry("png_truncated_bomb", "declares 5,000 x 5,000 (allowed) but holds 4 kB: "
                  "allocation without data", make_bomb(5_000, 5_000),
                  refused(422, "corrupt_image")),
        FileEntry("png_ztxt_bomb", "a zTXt chunk that inflates to 16 MB (Pillow stops at 1)",
                  _png_with_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"\0" * 16 * MIB, 9)),
                  refused(422, "corrupt_image")),
        FileEntry("png_strip_1x100000",
                  "1 x 100,000 px: accepted, since the pixel budget is what protects the "
                  "server and its derived images stay within 1600 and 320 px",
                  _png_strip(1, 100_000), ACCEPTED, fields={"width": 1, "height": 100_000}),
        FileEntry("png_strip_100000x1", "100,000 x 1 px, the other way round",
                  _png_strip(100_000, 1), ACCEPTED, fields={"width": 100_000, "height": 1}),
        FileEntry("svg_named_jpg", "an SVG with scripts, named .jpg", _SVG,
                  refused(415, "unsupported_media_type"), filename="cat.jpg"),
        FileEntry("html_named_jpg", "an HTML page with a script, named .jpg", _HTML,
                  refused(415, "unsupported_media_type"), filename="cat.jpg"),
        FileEntry("zip_named_jpg", "a ZIP archive named .jpg", _zip("a.jpg", jpeg[:2000]),
                  refused(415, "unsupported_media_type")),
        FileEntry("gif_named_jpg", "a GIF: a format this server does not decode",
                  _other_format("GIF"), refused(415, "unsupported_media_type")),
        FileEntry("tiff_named_jpg", "a TIFF: Pillow's largest parser, never to be reached",
                  _other_format("TIFF"), refused(415, "unsupported_media_type")),
        FileEntry("heic_garbage", "an ftyp/heic box followed by garbage",
                  b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\x00\x11" * 500,
                  refused(422, "corrupt_image") if _HEIF else refused(415)),
        FileEntry("empty_file", "a file part of zero bytes", b"",
                  refused(415, "unsupported_media_type")),
        *_exif_entries(),
        FileEntry("filename_traversal", "filename ../../etc/passwd: a label, never a path",
                  make_jpeg(60, 40), ACCEPTED, filename="../../etc/passwd",
                  fields={"filename": "../../etc/passwd"}),
        FileEntry("filename_nul", "a NUL byte in the filename (PostgreSQL text cannot hold "
                  "it)", make_jpeg(61, 40), refused(422), tus_expect=bad_meta,
                  filename="evil\x00.jpg"),
        FileEntry("filename_10kb", "a 10 kB filename: kept to 255 characters (by tus, a "
                  "metadata header over 8190 bytes: 431)",
                  make_jpeg(62, 40), ACCEPTED, filename="长" * 10_000 + ".jpg",
                  tus_expect=refused(431, "header_fields_too_large"),
                  fields={"filename": "长" * 255}),
        FileEntry("client_uuid_not_uuid", "client_uuid that is not a UUID",
                  make_jpeg(63, 40), refused(422), tus_expect=bad_meta,
                  client_uuid="not-a-uuid"),
        FileEntry("client_uuid_traversal", "client_uuid ../../etc/passwd",
                  make_jpeg(63, 41), refused(422), tus_expect=bad_meta,
                  client_uuid="../../etc/passwd"),
    )


def _exif_entries() -> tuple[FileEntry, ...]:
    nan, inf = math.nan, math.inf
    gps = {
        "exif_gps_lat_200": ("latitude 200 degrees", gps_tags(((200, 1), (0, 1), (0, 1)))),
        "exif_gps_lon_400": ("longitude 400 degrees", gps_tags(((28, 1), (48, 1), (11, 1)),
                                                           ((400, 1), (0, 1), (0, 1)))),
        "exif_gps_nan": ("latitude NaN, as doubles", gps_tags((nan, 0.0, 0.0), kind="double")),
        "exif_gps_infinite": ("longitude infinite", gps_tags((28.8, 0.0, 0.0), (inf, 0.0, 0.0),
                                                         kind="double")),
        "exif_gps_zero_denominators": ("every rational n/0",
                                       gps_tags(((28, 0), (48, 0), (11, 0)),
                                            ((113, 0), (4, 0), (26, 0)))),
        "exif_gps_negative_degrees": ("signed rationals, -28 degrees with ref N",
                                      gps_tags(((-28, 1), (48, 1), (11, 1)), kind="srational")),
        "exif_gps_negative_minutes": ("28 degrees minus 48 minutes",
                                      gps_tags(((28, 1), (-48, 1), (11, 1)), kind="srational")),
        "exif_gps_huge": ("4294967295/1 degrees", gps_tags(((0xFFFFFFFF, 1), (0, 1), (0, 1)))),
        "exif_gps_seven_parts": ("seven rationals for one latitude",
                                 gps_tags(tuple((i, 1) for i in range(7)))),
    }
    entries = [FileEntry(name, f"EXIF GPS {note}: accepted with no GPS",
                         exif_jpeg(exif_tiff([], gps=tags)), ACCEPTED, fields=_NO_GPS)
               for name, (note, tags) in gps.items()]
    entries += [
        FileEntry("exif_gps_pointer_out_of_file", "the GPS IFD pointer aims past the end",
                  exif_jpeg(exif_tiff([], gps=gps_tags(((28, 1), (0, 1), (0, 1))),
                                       gps_pointer=0x7FFFFFF0)), ACCEPTED, fields=_NO_GPS),
        FileEntry("exif_ifd_loop", "IFD0 links to itself as the next IFD",
                  exif_jpeg(exif_tiff([(0x0112, "short", (1,))], ifd0_next=8)), ACCEPTED),
        FileEntry("exif_time_year_1", "DateTimeOriginal 0001:01:01: before UTC can express "
                  "in Beijing time", exif_jpeg(_taken(b"0001:01:01 00:00:00\0")), ACCEPTED,
                  fields={"exif_taken_at": None}),
        FileEntry("exif_time_year_9999", "DateTimeOriginal 9999-12-31 23:59 at -12:00",
                  exif_jpeg(_taken(b"9999:12:31 23:59:59\0", b"-12:00\0")), ACCEPTED,
                  fields={"exif_taken_at": None}),
        FileEntry("exif_make_nul", "camera make with a NUL inside (PostgreSQL text cannot "
                  "hold it)", exif_jpeg(_camera(b"HUA\0WEI\0")), ACCEPTED,
                  fields={"exif_model": "P60"}),
    ]
    return tuple(entries)


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body from (field name, filename or None, bytes) parts."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@functools.cache
def one_shot_attacks() -> tuple[OneShotAttack, ...]:
    """Hostile bodies for ``POST /api/v1/photos``."""
    form = f"multipart/form-data; boundary={BOUNDARY}"
    one, two = make_jpeg(64, 44), make_jpeg(64, 45)
    return (
        OneShotAttack("two_file_parts", "two parts named file: which photo is meant?", form,
                      multipart([("file", "a.jpg", one), ("file", "b.jpg", two)]),
                      refused(422)),
        OneShotAttack("empty_body", "multipart type, empty body", form, b"", refused(422)),
        OneShotAttack("no_boundary", "multipart without a boundary", "multipart/form-data",
                      multipart([("file", "a.jpg", one)]), refused(422)),
        OneShotAttack("unterminated", "a multipart body that never closes", form,
                      multipart([("file", "a.jpg", one)])[:-30], refused(422)),
        OneShotAttack("json_body", "JSON instead of a form", "application/json",
                      b'{"file": "x"}', refused(415, "unsupported_media_type")),
        OneShotAttack("raw_jpeg_body", "the JPEG as the body, typed image/jpeg",
                      "image/jpeg", one, refused(415, "unsupported_media_type")),
        OneShotAttack("huge_uuid_field", "a 64 kB client_uuid field after the file", form,
                      multipart([("file", "a.jpg", one), ("client_uuid", None, b"7" * 65536)]),
                      refused(413)),
        OneShotAttack("far_beyond_limit", "four times MAX_PHOTO_BYTES, refused mid-stream",
                      form, multipart([("file", "big.jpg", b"\xff\xd8\xff" + b"\0" * 4 * LIMIT)]),
                      refused(413, "photo_too_large")),
    )


@functools.cache
def tus_attacks() -> tuple[TusAttack, ...]:
    """Hostile tus exchanges."""
    octets = {"Content-Type": "application/offset+octet-stream"}
    other = hashlib.sha1(b"other bytes", usedforsecurity=False).digest()
    sha1_of_other = "sha1 " + base64.b64encode(other).decode()
    return (
        TusAttack("patch_wrong_offset", "PATCH at offset 5 of an empty upload",
                  refused(409, "offset_mismatch"), patch=Patch(b"x" * 10, offset=5)),
        TusAttack("patch_wrong_checksum", "a chunk whose Upload-Checksum is another's",
                  refused(460, "checksum_mismatch"),
                  patch=Patch(b"x" * 100, headers={"Upload-Checksum": sha1_of_other})),
        TusAttack("patch_wrong_content_type", "PATCH typed image/jpeg",
                  refused(415), patch=Patch(b"x" * 10, headers={"Content-Type": "image/jpeg"})),
        TusAttack("patch_longer_than_declared", "Content-Length past Upload-Length",
                  refused(413, "upload_too_long"), length=100, patch=Patch(b"x" * 101)),
        TusAttack("patch_chunked_past_length",
                  "no Content-Length, 64 kB past an Upload-Length of exactly 1 MiB",
                  refused(413, "upload_too_long"), length=MIB,
                  patch=Patch(b"\xff\xd8\xff" + b"x" * (MIB + 65533), chunked=True)),
        TusAttack("upload_length_far_beyond", "Upload-Length of 1 GiB",
                  refused(413, "photo_too_large"), length=1 << 30),
        TusAttack("upload_length_superscript", "Upload-Length '\u00b2': a digit to "
                  "str.isdigit, not to int()", refused(400),
                  create_headers={"Upload-Length": "\u00b2"}),
        TusAttack("upload_length_negative", "Upload-Length -5", refused(400),
                  create_headers={"Upload-Length": "-5"}),
        TusAttack("upload_offset_superscript", "Upload-Offset '\u00b3'", refused(400),
                  patch=Patch(b"x", headers={"Upload-Offset": "\u00b3"})),
        TusAttack("metadata_not_base64", "Upload-Metadata with a value that is not base64",
                  refused(400, "invalid_metadata"),
                  create_headers={"Upload-Metadata": "filename ../../etc/passwd"}),
        TusAttack("metadata_nul_value", "a NUL in a metadata value other than filename",
                  refused(400, "invalid_metadata"),
                  create_headers={"Upload-Metadata": "note AA=="}),
        TusAttack("metadata_control_key", "a metadata key with NUL and control characters",
                  refused(400, "invalid_metadata"),
                  create_headers={"Upload-Metadata": "file\x00name QQ==,a\x01b QQ=="}),
        TusAttack("checksum_unknown_algorithm", "Upload-Checksum crc32",
                  refused(400, "checksum_algorithm"),
                  patch=Patch(b"x", headers={"Upload-Checksum": "crc32 AAAA"})),
        TusAttack("wrong_tus_version", "Tus-Resumable 0.2.2", refused(412),
                  create_headers={"Tus-Resumable": "0.2.2"}),
        TusAttack("create_body_wrong_checksum", "creation-with-upload, checksum mismatch",
                  refused(460, "checksum_mismatch"), length=100,
                  create_headers={**octets, "Upload-Checksum": sha1_of_other},
                  create_body=b"x" * 100),
        TusAttack("create_body_past_length", "creation-with-upload, body past Upload-Length",
                  refused(413, "upload_too_long"), length=10, create_headers=octets,
                  create_body=b"x" * 100),
        TusAttack("create_body_wrong_type", "creation-with-upload typed image/jpeg",
                  refused(415), length=100, create_headers={"Content-Type": "image/jpeg"},
                  create_body=b"x" * 100),
        TusAttack("upload_id_nul", "an upload id with a NUL byte", refused(404),
                  path="/api/v1/uploads/%00"),
        TusAttack("upload_id_traversal", "an upload id ../../etc/passwd", refused(404),
                  path="/api/v1/uploads/..%2F..%2Fetc%2Fpasswd"),
        TusAttack("upload_id_10kb", "a 10 kB upload id", refused(414, "uri_too_long"),
                  path="/api/v1/uploads/" + "a" * 10_000),
    )
