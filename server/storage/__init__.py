"""Photo storage without Flask: checks by decoding, EXIF, derived images, the file store."""

from __future__ import annotations

from .photos import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    MIME_TYPES,
    ExifInfo,
    PhotoInfo,
    PhotoRejectedError,
    derive_images,
    inspect_photo,
    parse_exif,
    process_photo,
    sniff_format,
)
from .store import Kind, PhotoStore, receive_photo, receive_stream, store_photo

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MIME_TYPES",
    "ExifInfo",
    "Kind",
    "PhotoInfo",
    "PhotoRejectedError",
    "PhotoStore",
    "derive_images",
    "inspect_photo",
    "parse_exif",
    "process_photo",
    "receive_photo",
    "receive_stream",
    "sniff_format",
    "store_photo",
]
