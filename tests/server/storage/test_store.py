"""The content-addressed photo store, streaming receive and the intake that joins them."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from server.storage import (
    PhotoRejectedError,
    PhotoStore,
    receive_photo,
    receive_stream,
    store_photo,
)
from server.storage import store as store_module
from tests.server.storage.imagegen import make_bomb, make_jpeg, truncate

SHA_A = "ab" * 32
SHA_B = "cd" * 32


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos")


def _files(root: Path) -> list[Path]:
    """Every regular file under root, tmp/ included."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def _tmp_file(store: PhotoStore, data: bytes, name: str = "upload.part") -> Path:
    path = store.tmp_dir / name
    path.write_bytes(data)
    return path


class EndlessStream(io.RawIOBase):
    """A client that never stops sending; counts what the server read."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 1 << 16 if size is None or size < 0 else size
        self.bytes_read += size
        return b"\xff" * size


class TrickleStream(io.RawIOBase):
    """A stream that hands back at most 1,000 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(1000, size if size and size > 0 else 1000))


# --- receive_stream ---------------------------------------------------------------------------


def test_receive_stream_copies_hashes_and_sizes_the_upload(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path, sha256, size = receive_stream(TrickleStream(data), tmp_path, max_bytes=len(data))
    assert path.parent == tmp_path and path.read_bytes() == data
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_receive_stream_stops_reading_past_the_limit_with_413(tmp_path: Path) -> None:
    """An endless body is cut off after the limit, not buffered: the 413 comes at once."""
    stream = EndlessStream()
    with pytest.raises(PhotoRejectedError) as caught:
        receive_stream(stream, tmp_path, max_bytes=1_000_000, chunk_size=1 << 16)
    assert (caught.value.status, caught.value.problem_type) == (413, "photo_too_large")
    assert stream.bytes_read <= 1_000_000 + (1 << 16)
    assert list(tmp_path.iterdir()) == []


def test_receive_stream_accepts_exactly_the_limit_and_refuses_one_byte_more(
    tmp_path: Path,
) -> None:
    path, _sha, size = receive_stream(io.BytesIO(b"x" * 5000), tmp_path, max_bytes=5000)
    assert size == 5000 and path.exists()
    with pytest.raises(PhotoRejectedError):
        receive_stream(io.BytesIO(b"x" * 5001), tmp_path, max_bytes=5000)
    assert list(tmp_path.iterdir()) == [path]


def test_receive_stream_removes_its_temp_file_when_the_client_disconnects(tmp_path: Path) -> None:
    class Dropped(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        receive_stream(Dropped(), tmp_path, max_bytes=10)
    assert list(tmp_path.iterdir()) == []


# --- PhotoStore -------------------------------------------------------------------------------


def test_paths_fan_out_by_hash_prefix(store: PhotoStore) -> None:
    root = store.root
    assert store.path("original", SHA_A) == root / "original/ab/ab" / SHA_A
    assert store.path("display", SHA_A) == root / f"display/ab/ab/{SHA_A}.jpg"
    assert store.path("thumb", SHA_B) == root / f"thumb/cd/cd/{SHA_B}.jpg"
    assert store.tmp_dir == root / "tmp" and store.tmp_dir.is_dir()


@pytest.mark.parametrize("bad", ["../" * 21 + "etc", "AB" * 32, "ab" * 31, "g" * 64, ""])
def test_paths_refuse_anything_but_a_sha256(store: PhotoStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.path("original", bad)


def test_unknown_kind_is_refused(store: PhotoStore) -> None:
    with pytest.raises(ValueError):
        store.path("secret", SHA_A)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.put_derived("original", SHA_A, b"x")  # type: ignore[arg-type]


def test_put_original_moves_the_file_into_place(store: PhotoStore) -> None:
    src = _tmp_file(store, b"photo bytes")
    dest = store.put_original(src, SHA_A)
    assert dest == store.path("original", SHA_A) and dest.read_bytes() == b"photo bytes"
    assert not src.exists() and store.exists("original", SHA_A)


def test_same_bytes_stored_twice_are_one_file(store: PhotoStore) -> None:
    first = _tmp_file(store, b"same bytes", "first.part")
    second = _tmp_file(store, b"same bytes", "second.part")
    assert store.put_original(first, SHA_A) == store.put_original(second, SHA_A)
    assert not second.exists()
    assert list(store.iter_originals()) == [SHA_A]
    assert _files(store.root) == [store.path("original", SHA_A)]


def test_failed_rename_leaves_nothing_under_the_final_name(store: PhotoStore, monkeypatch) -> None:
    def failing_replace(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "disk went away")

    src = _tmp_file(store, b"photo bytes")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        store.put_original(src, SHA_A)
    with pytest.raises(OSError):
        store.put_derived("display", SHA_A, b"jpeg bytes")
    assert not store.exists("original", SHA_A) and not store.exists("display", SHA_A)
    assert _files(store.root) == [src]  # the caller still holds its upload; no derived temp


def test_put_original_across_filesystems_copies_then_renames(
    store: PhotoStore, tmp_path: Path, monkeypatch
) -> None:
    real_replace = os.replace
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"from another disk")

    def replace_within_store_only(src: str | Path, dst: str | Path) -> None:
        if Path(src) == outside:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_within_store_only)
    dest = store.put_original(outside, SHA_A)
    assert dest.read_bytes() == b"from another disk" and not outside.exists()
    assert list(store.tmp_dir.iterdir()) == []


def test_put_derived_replaces_the_older_version_whole(store: PhotoStore) -> None:
    store.put_derived("thumb", SHA_A, b"old")
    path = store.put_derived("thumb", SHA_A, b"new thumb")
    assert path.read_bytes() == b"new thumb"
    assert list(store.tmp_dir.iterdir()) == []


def test_delete_removes_original_and_derived(store: PhotoStore) -> None:
    store.put_original(_tmp_file(store, b"a"), SHA_A)
    store.put_derived("display", SHA_A, b"d")
    store.put_derived("thumb", SHA_A, b"t")
    store.put_original(_tmp_file(store, b"b"), SHA_B)
    store.delete(SHA_A)
    store.delete(SHA_A)  # twice is fine
    assert _files(store.root) == [store.path("original", SHA_B)]


def test_iter_originals_lists_stored_hashes_only(store: PhotoStore) -> None:
    for sha in (SHA_B, SHA_A):
        store.put_original(_tmp_file(store, sha.encode()), sha)
    (store.path("original", SHA_A).parent / "notes.txt").write_text("junk")
    (store.path("original", SHA_A).parent / SHA_B).write_text("misplaced")
    assert list(store.iter_originals()) == [SHA_A, SHA_B]
    assert list(PhotoStore(store.root / "empty").iter_originals()) == []


def test_purge_tmp_removes_only_stale_temp_files(store: PhotoStore) -> None:
    stale, fresh = _tmp_file(store, b"s", "stale.part"), _tmp_file(store, b"f", "fresh.part")
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    assert store.purge_tmp(older_than_s=24 * 3600) == 1
    assert list(store.tmp_dir.iterdir()) == [fresh]


# --- store_photo / receive_photo -----------------------------------------------------------------


def test_store_photo_files_original_display_and_thumb(store: PhotoStore) -> None:
    data = make_jpeg(2000, 1500, gps=(28.8, 113.08), texture=10)
    sha = hashlib.sha256(data).hexdigest()
    info = store_photo(_tmp_file(store, data), store)
    assert info.sha256 == sha and info.exif.lat == pytest.approx(28.8)
    assert store.path("original", sha).read_bytes() == data
    assert _size(store.path("display", sha)) == (1600, 1200)
    assert _size(store.path("thumb", sha)) == (320, 240)
    assert list(store.tmp_dir.iterdir()) == []


def test_storing_a_duplicate_skips_rederiving(store: PhotoStore, monkeypatch) -> None:
    data = make_jpeg(800, 600, gps=(28.8, 113.08))
    first = store_photo(_tmp_file(store, data, "a.part"), store)

    def must_not_derive(*args: object, **kwargs: object) -> None:
        raise AssertionError("derived images were made again")

    monkeypatch.setattr(store_module, "process_photo", must_not_derive)
    second = store_photo(_tmp_file(store, data, "b.part"), store)
    assert second == first
    assert len(_files(store.root)) == 3  # one original, one display, one thumb


@pytest.mark.parametrize(
    "data",
    [b"not a photo at all", make_bomb(), truncate(make_jpeg(640, 480, texture=30))],
    ids=["text", "bomb", "truncated"],
)
def test_rejected_photo_leaves_nothing_behind(store: PhotoStore, data: bytes) -> None:
    src = _tmp_file(store, data)
    with pytest.raises(PhotoRejectedError):
        store_photo(src, store)
    assert _files(store.root) == []


def test_receive_photo_streams_checks_and_stores(store: PhotoStore) -> None:
    data = make_jpeg(640, 480, orientation=6)
    info = receive_photo(io.BytesIO(data), store, max_bytes=len(data))
    assert (info.width, info.height) == (480, 640)
    assert list(store.iter_originals()) == [hashlib.sha256(data).hexdigest()]


@pytest.mark.parametrize(
    ("body", "status"),
    [(make_jpeg(640, 480) + b"\x00" * 10_000, 413), (make_bomb(), 422), (b"<html>", 415)],
    ids=["oversize", "bomb", "html"],
)
def test_receive_photo_rejection_leaves_nothing_behind(
    store: PhotoStore, body: bytes, status: int
) -> None:
    with pytest.raises(PhotoRejectedError) as caught:
        receive_photo(io.BytesIO(body), store, max_bytes=len(body) - 1 if status == 413 else 10**6)
    assert caught.value.status == status
    assert _files(store.root) == []
