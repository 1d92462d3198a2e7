"""Content-addressed photo files on a local disk, every write atomic.

Layout under ``root``::

    original/ab/cd/<sha256>       the bytes as uploaded, EXIF and all (never sent to browsers)
    display/ab/cd/<sha256>.jpg    long side <= 1600 px, no metadata
    thumb/ab/cd/<sha256>.jpg      long side <= 320 px, no metadata
    tmp/                          uploads arriving and files about to take their final name

A file reaches its final name only by ``os.replace`` from ``tmp/`` (same filesystem) after an
fsync, and the directory is fsynced after the rename: a crash leaves the whole file or nothing
under the final name. The same bytes uploaded twice, by anyone, are one original.

The request keeps only the original (``keep_original``: a 1/8-scale decode proves it whole);
the display image and thumb are made later by a job (``derive_stored``), from the stored
original. ``server.storage.s3.S3PhotoStore`` keeps the same layout as keys of a bucket.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO, Literal

from .photos import (
    DEFAULT_MAX_PIXELS,
    PhotoInfo,
    PhotoRejectedError,
    derive_images,
    inspect_photo,
    process_photo,
)

__all__ = ["Kind", "PhotoStore", "derive_stored", "keep_original", "receive_photo",
           "receive_stream", "store_photo"]

Kind = Literal["original", "display", "thumb"]
_KINDS = ("original", "display", "thumb")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BLOB = re.compile(r"[a-z0-9_-]{1,40}(/[A-Za-z0-9_.-]{1,120})+")


def receive_stream(
    stream: BinaryIO, dest_dir: Path, *, max_bytes: int, chunk_size: int = 1 << 16
) -> tuple[Path, str, int]:
    """Copy ``stream`` into a temp file in ``dest_dir`` while hashing it.

    Raises PhotoRejectedError(413) as soon as more than ``max_bytes`` have arrived, before
    the rest is read, and removes the temp file. Returns (temp_path, sha256 hex, size).
    """
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(dir=dest_dir, prefix="upload-", suffix=".part")
    path = Path(name)
    try:
        with open(fd, "wb") as out:
            while chunk := stream.read(chunk_size):
                size += len(chunk)
                if size > max_bytes:
                    raise PhotoRejectedError(
                        413, "photo_too_large", f"The photo is larger than {max_bytes:,} bytes."
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PhotoStore:
    """Originals, display images and thumbs under one root, addressed by sha256."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def tmp_dir(self) -> Path:
        """Where uploads arrive; on the store's filesystem so a rename finishes them."""
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            self._make_dirs(tmp)
        return tmp

    def path(self, kind: Kind, sha256: str) -> Path:
        """The final path of one stored file (it may not exist)."""
        if kind not in _KINDS:
            raise ValueError(f"unknown photo kind {kind!r}")
        if not _SHA256.fullmatch(sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        name = sha256 if kind == "original" else f"{sha256}.jpg"
        return self.root / kind / sha256[:2] / sha256[2:4] / name

    def exists(self, kind: Kind, sha256: str) -> bool:
        """Whether that file is stored."""
        return self.path(kind, sha256).is_file()

    def open(self, kind: Kind, sha256: str) -> BinaryIO | None:
        """The stored file opened for reading, or None if it is not stored."""
        try:
            return self.path(kind, sha256).open("rb")
        except FileNotFoundError:
            return None

    def put_blob(self, name: str, data: bytes) -> None:
        """Write a file made by a job (an export) under ``blobs/NAME``, atomically."""
        self._write_atomically(self._blob_path(name), data, prefix="blob-")

    def open_blob(self, name: str) -> BinaryIO | None:
        """A file ``put_blob`` wrote, open for reading, or None."""
        try:
            return self._blob_path(name).open("rb")
        except FileNotFoundError:
            return None

    def _blob_path(self, name: str) -> Path:
        if not _BLOB.fullmatch(name):
            raise ValueError(f"not a blob name: {name!r}")
        return self.root / "blobs" / name

    def original_file(self, sha256: str) -> AbstractContextManager[Path]:
        """A local path of the stored original, for as long as the ``with`` block runs."""
        return nullcontext(self.path("original", sha256))

    def put_original(self, src: Path, sha256: str) -> Path:
        """Move ``src`` into place as the original of ``sha256``; if already stored, drop ``src``.

        The caller vouches that ``src`` hashes to ``sha256``. On failure ``src`` stays put.
        """
        dest = self.path("original", sha256)
        if dest.exists():
            src.unlink(missing_ok=True)
            return dest
        _fsync_file(src)
        self._make_dirs(dest.parent)
        try:
            os.replace(src, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._replace_from_copy(src, dest)
        _fsync_dir(dest.parent)
        return dest

    def put_derived(self, kind: Literal["display", "thumb"], sha256: str, data: bytes) -> Path:
        """Write a display image or thumb atomically (replacing any older one)."""
        if kind not in ("display", "thumb"):
            raise ValueError(f"not a derived kind: {kind!r}")
        dest = self.path(kind, sha256)
        self._write_atomically(dest, data, prefix=f"{kind}-")
        return dest

    def _write_atomically(self, dest: Path, data: bytes, *, prefix: str) -> None:
        """Write ``data`` to a fsynced temporary file, then move it into place as ``dest``."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=prefix, suffix=".part")
        try:
            with open(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._make_dirs(dest.parent)
            os.replace(name, dest)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        _fsync_dir(dest.parent)

    def delete(self, sha256: str) -> None:
        """Remove the original and its derived images; missing files are fine."""
        for kind in _KINDS:
            self.path(kind, sha256).unlink(missing_ok=True)  # type: ignore[arg-type]

    def iter_originals(self) -> Iterator[str]:
        """Yield the sha256 of every stored original, in sorted order."""
        base = self.root / "original"
        for first in _sorted_dirs(base):
            for second in _sorted_dirs(first):
                for entry in sorted(os.listdir(second)):
                    if _SHA256.fullmatch(entry) and entry[:4] == first.name + second.name:
                        yield entry

    def purge_tmp(self, older_than_s: float = 24 * 3600) -> int:
        """Delete temp files left by crashed writers; returns how many went."""
        cutoff, removed = time.time() - older_than_s, 0
        for entry in os.scandir(self.tmp_dir):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed

    def _make_dirs(self, directory: Path) -> None:
        """Create missing directories, fsyncing each parent so the new entries survive a crash."""
        missing = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            new.mkdir(exist_ok=True)  # another writer may win the race: same result
            _fsync_dir(new.parent)

    def _replace_from_copy(self, src: Path, dest: Path) -> None:
        """Finish a move across filesystems: copy into tmp, fsync, rename, then drop ``src``."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="original-", suffix=".part")
        try:
            with open(fd, "wb") as out, src.open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, dest)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        src.unlink()


def _sorted_dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and len(p.name) == 2)
    except FileNotFoundError:
        return []


def store_photo(
    src: Path,
    store: PhotoStore,
    *,
    sha256: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    display_max: int = 1600,
    thumb_max: int = 320,
    quality: int = 82,
) -> PhotoInfo:
    """Check a complete upload, file its derived images and original; ``src`` is consumed.

    On success ``src`` became (or duplicated) the stored original; on any failure, including
    PhotoRejectedError, ``src`` is deleted and nothing new is left under a final name.
    Derived images are written first, so a stored original always has them.
    """
    try:
        if sha256 is None:
            with src.open("rb") as fh:
                sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        if store.exists("display", sha256) and store.exists("thumb", sha256):
            info = inspect_photo(src, max_pixels=max_pixels, sha256=sha256)
        else:
            info, display, thumb = process_photo(
                src,
                max_pixels=max_pixels,
                display_max=display_max,
                thumb_max=thumb_max,
                quality=quality,
                sha256=sha256,
            )
            store.put_derived("display", sha256, display)
            store.put_derived("thumb", sha256, thumb)
        store.put_original(src, sha256)
    except BaseException:
        src.unlink(missing_ok=True)
        raise
    return info


def keep_original(
    src: Path, store: PhotoStore, *, sha256: str, max_pixels: int = DEFAULT_MAX_PIXELS
) -> PhotoInfo:
    """Check a complete upload and file it as the original; ``src`` is consumed either way.

    The check is ``inspect_photo``: the magic number, the declared pixels, the JPEG scans and
    one decode at 1/8 DCT scale that reads every entropy-coded byte, so a truncated or broken
    file is refused here, on the request. The derived images are the job ``derive_stored``.
    """
    try:
        info = inspect_photo(src, max_pixels=max_pixels, sha256=sha256)
        store.put_original(src, sha256)
    except BaseException:
        src.unlink(missing_ok=True)
        raise
    return info


def derive_stored(
    store: PhotoStore,
    sha256: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    display_max: int = 1600,
    thumb_max: int = 320,
    quality: int = 82,
) -> bool:
    """Make the display image and thumb of a stored original (idempotent: the job's body).

    Returns False when both were already there (a retry after the work was done, or the
    same bytes under another id), True when they were written now. The thumb is written
    last, so a stored thumb means both are there.
    """
    if store.exists("display", sha256) and store.exists("thumb", sha256):
        return False
    with store.original_file(sha256) as original:
        display, thumb = derive_images(original, display_max=display_max, thumb_max=thumb_max,
                                       quality=quality, max_pixels=max_pixels)
    store.put_derived("display", sha256, display)
    store.put_derived("thumb", sha256, thumb)
    return True


def receive_photo(
    stream: BinaryIO, store: PhotoStore, *, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> PhotoInfo:
    """Stream an upload into the store's tmp dir, then ``store_photo`` it (one-shot uploads)."""
    tmp, sha256, _size = receive_stream(stream, store.tmp_dir, max_bytes=max_bytes)
    return store_photo(tmp, store, sha256=sha256, max_pixels=max_pixels)
