"""Photo storage without Flask: checks by decoding, EXIF, derived images, the file store."""

from __future__ import annotations

from .choice import open_store
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
from .store import (
    Kind,
    PhotoStore,
    derive_stored,
    keep_original,
    receive_photo,
    receive_stream,
    store_photo,
)

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
    "derive_stored",
    "inspect_photo",
    "keep_original",
    "open_store",
    "parse_exif",
    "process_photo",
    "receive_photo",
    "receive_stream",
    "sniff_format",
    "store_photo",
]
