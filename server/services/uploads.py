"""Resumable photo uploads (tus 1.0.0): creation, chunks, checksums, termination, expiry.

Bytes arrive in the photo store's ``tmp/`` folder, in the upload's ``.part`` file. A PATCH
holds an exclusive ``flock`` on that file from before it reads the offset until its chunk is
appended and the offset committed (a second PATCH waits up to ``UPLOAD_LOCK_WAIT_S``, then
finds the offset moved: 409, or answers 503 ``upload_busy``). A file lock, not a database
lock: the transaction is closed while bytes stream in (a slow phone holds no connection from
the pool), so no row lock could last the PATCH, and the file is where the race is; every
host of the city tier shares the photo volume, and Linux takes an ``flock`` on NFS as a
lock the server keeps for every client. The offset in the database still moves only by
compare-and-set (``WHERE received = <old>``). A chunk with a checksum is written to a file
of its own first and appended only once it is whole and its checksum matched, so a body
that fails its checksum never touches the upload; a chunk without one counts as it arrives
(progress is committed every megabyte and when the connection drops, so a client resumes
from what arrived). HEAD finishes an upload only if no PATCH holds it, and DELETE waits for
the PATCH in progress.

Each user may keep ``MAX_OPEN_UPLOADS_PER_USER`` unfinished uploads declaring at most
``MAX_UPLOAD_BYTES_IN_FLIGHT_PER_USER`` bytes together (429 ``too_many_uploads``), so one
account cannot fill the disk with uploads it never finishes. Two creations at the same
moment may both pass the count: the cap is a bound, not an exact quota.

When the last byte arrives the file becomes a photo (``services.photos.accept_photo``); a
file that is not an acceptable photo is discarded with its upload.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from werkzeug.exceptions import ClientDisconnected

from server.errors import ApiError, ConflictError, NotFoundError, PayloadTooLargeError
from server.models import Photo, Upload, User
from server.models.types import utcnow
from server.services.photos import accept_photo, photo_store
from server.services.scopes import owns_upload
from server.transactions import checkpoint

__all__ = ["TUS_VERSION", "TUS_EXTENSIONS", "CHECKSUM_ALGORITHMS", "Checksum", "parse_metadata",
           "parse_checksum", "create_upload", "get_upload", "receive_chunk", "finish_upload",
           "finish_if_whole",
           "terminate_upload", "discard_unfinished",
           "purge_expired", "upload_path"]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "termination", "checksum", "expiration")
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
READ_SIZE = 64 * 1024
PROGRESS_BYTES = 1024 * 1024  # commit the offset this often while a chunk streams in
LOCK_POLL_S = 0.05
_FILENAME_KEYS = ("filename", "name")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return config if config is not None else current_app.config


def _bad_request(detail: str, slug: str = "bad_request") -> ApiError:
    return ApiError(detail, slug=slug, status=400)


@dataclass(frozen=True)
class Checksum:
    """An ``Upload-Checksum``: the algorithm name and the digest the client computed."""

    algorithm: str
    digest: bytes


def parse_metadata(header: str | None) -> dict[str, str]:
    """Decode ``Upload-Metadata`` (``key base64value`` pairs, comma-separated); 400 if malformed."""
    result: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        if not key or key in result or not (key.isascii() and key.isprintable()):
            raise _bad_request("Upload-Metadata has an empty, repeated or unprintable key.",
                               "invalid_metadata")
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _bad_request(f"Upload-Metadata value of {key} is not base64 UTF-8.",
                               "invalid_metadata") from exc
        if "\x00" in result[key]:  # PostgreSQL text and JSONB cannot hold NUL
            raise _bad_request(f"Upload-Metadata value of {key} contains a NUL character.",
                               "invalid_metadata")
    return result


def parse_checksum(header: str | None) -> Checksum | None:
    """Decode ``Upload-Checksum: <algorithm> <base64 digest>``; 400 if unsupported or malformed."""
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() not in CHECKSUM_ALGORITHMS:
        raise _bad_request(f"Checksum algorithm {algorithm} is not supported; use one of "
                           f"{', '.join(CHECKSUM_ALGORITHMS)}.", "checksum_algorithm")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise _bad_request("Upload-Checksum digest is not base64.", "invalid_checksum") from exc
    return Checksum(algorithm.lower(), digest)


def upload_path(upload: Upload, config: Mapping[str, Any] | None = None) -> Path:
    """Where the upload's bytes are kept until it is whole."""
    return photo_store(config).tmp_dir / upload.temp_name


def _client_uuid(meta: Mapping[str, str]) -> str | None:
    raw = meta.get("client_uuid")
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise _bad_request("Upload-Metadata client_uuid is not a UUID.",
                           "invalid_metadata") from exc


def create_upload(session: Session, user: User, length: int, meta: Mapping[str, str],
                  config: Mapping[str, Any] | None = None) -> Upload:
    """Open an upload of ``length`` bytes (413 beyond ``MAX_PHOTO_BYTES``) and its empty file."""
    cfg = _config(config)
    max_bytes = int(cfg["MAX_PHOTO_BYTES"])
    if length > max_bytes:
        raise PayloadTooLargeError(f"A photo may be at most {max_bytes:,} bytes.",
                                   slug="photo_too_large")
    _check_open_uploads(session, user, length, cfg)
    filename = next((meta[k] for k in _FILENAME_KEYS if meta.get(k)), None)
    upload_id = secrets.token_hex(16)
    upload = Upload(id=upload_id, user_id=user.id, length=length, offset=0, meta=dict(meta),
                    client_uuid=_client_uuid(meta), filename=filename and filename[:255],
                    temp_name=f"tus-{upload_id}.part",
                    expires_at=utcnow() + timedelta(hours=float(cfg["UPLOAD_EXPIRY_HOURS"])))
    upload_path(upload, cfg).touch(exist_ok=False)
    session.add(upload)
    session.flush()
    return upload


def _check_open_uploads(session: Session, user: User, length: int,
                        cfg: Mapping[str, Any]) -> None:
    """429 ``too_many_uploads`` if one more upload of ``length`` bytes passes the user's caps."""
    now = utcnow()
    count, declared, first_expiry = session.execute(
        select(func.count(), func.coalesce(func.sum(Upload.length), 0),
               func.min(Upload.expires_at))
        .where(Upload.user_id == user.id, Upload.completed_at.is_(None),
               Upload.expires_at > now)).one()
    max_open = int(cfg["MAX_OPEN_UPLOADS_PER_USER"])
    max_in_flight = int(cfg["MAX_UPLOAD_BYTES_IN_FLIGHT_PER_USER"])
    if count + 1 <= max_open and declared + length <= max_in_flight:
        return
    wait = (first_expiry - now).total_seconds() if first_expiry is not None else 60
    raise ApiError(
        f"You have {count} unfinished uploads declaring {declared:,} bytes (at most "
        f"{max_open} uploads and {max_in_flight:,} bytes at a time). Finish them, delete "
        "those you no longer need (DELETE /api/v1/uploads/{id}), or wait until they expire.",
        slug="too_many_uploads", status=429,
        headers={"Retry-After": str(max(60, min(int(wait) + 1, 24 * 3600)))})


def get_upload(session: Session, user: User, upload_id: str) -> Upload:
    """The user's upload ``upload_id``: 404 if unknown or someone else's, 410 once expired."""
    # Ids are ours (token_hex): anything else, a NUL byte included, names no upload.
    upload = session.get(Upload, upload_id) if _UPLOAD_ID.fullmatch(upload_id) else None
    if upload is None or not owns_upload(user, upload):
        raise NotFoundError(f"No upload {upload_id}.")
    if not upload.complete and upload.expires_at <= utcnow():
        raise ApiError("This upload has expired; start a new one.", slug="upload_expired",
                       status=410)
    return upload


def _advance(session: Session, upload_id: str, old: int, new: int,
             cfg: Mapping[str, Any]) -> None:
    """Move the offset from ``old`` to ``new`` (compare-and-set) and push the expiry back."""
    expires = utcnow() + timedelta(hours=float(cfg["UPLOAD_EXPIRY_HOURS"]))
    result = session.execute(
        update(Upload).where(Upload.id == upload_id, Upload.offset == old)
        .values(offset=new, expires_at=expires).execution_options(synchronize_session=False))
    checkpoint(session)  # the offset stands as soon as the bytes are on disk
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("Another request moved this upload's offset; ask for it "
                            "again with HEAD.", slug="offset_mismatch")


@contextmanager
def _locked(path: Path, cfg: Mapping[str, Any], *, wait: bool = True) -> Iterator[bool]:
    """Hold the upload whose bytes are ``path`` (an exclusive ``flock`` on the file).

    Yields False, holding nothing, when the file is gone (the upload was finished or
    deleted meanwhile). Waits ``UPLOAD_LOCK_WAIT_S`` for another request's hold, then
    answers 503 ``upload_busy``; with ``wait=False`` it raises :class:`BlockingIOError`.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield False
        return
    try:
        give_up = time.monotonic() + (float(cfg["UPLOAD_LOCK_WAIT_S"]) if wait else 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise
                if time.monotonic() >= give_up:
                    raise ApiError("Another request is sending bytes to this upload. Ask for "
                                   "its offset with HEAD and go on from there in a moment.",
                                   slug="upload_busy", status=503,
                                   headers={"Retry-After": "5"}) from None
                time.sleep(LOCK_POLL_S)
        yield True
    finally:
        os.close(fd)  # and with it the lock


def _copy(stream: BinaryIO, out: BinaryIO, start: int, length: int,
          on_progress: Callable[[int, BinaryIO], None] | None,
          hasher: Any) -> tuple[int, bool]:
    """Copy ``stream`` to ``out``, counting from offset ``start``; return (end offset,
    connection dropped). 413 past ``length``."""
    position, dropped = start, False
    try:
        while data := stream.read(READ_SIZE):
            if position + len(data) > length:
                raise PayloadTooLargeError(
                    "The chunk goes past the Upload-Length given at creation.",
                    slug="upload_too_long")
            out.write(data)
            position += len(data)
            if hasher is not None:
                hasher.update(data)
            if on_progress is not None:
                on_progress(position, out)
    except (ClientDisconnected, ConnectionError, TimeoutError):
        dropped = True
    out.flush()
    return position, dropped


def _write(path: Path, stream: BinaryIO, start: int, length: int,
           on_progress: Callable[[int, BinaryIO], None]) -> tuple[int, bool]:
    """Copy ``stream`` into ``path`` from ``start``; return (end offset, connection dropped)."""
    with path.open("r+b") as out:
        out.seek(start)
        end, dropped = _copy(stream, out, start, length, on_progress, None)
        os.fsync(out.fileno())
    return end, dropped


def _write_verified(path: Path, stream: BinaryIO, start: int, length: int,
                    checksum: Checksum) -> int | None:
    """Receive a chunk into a file of its own and append it to ``path`` at ``start`` only
    whole and matching ``checksum``; return the end offset, or None if the line dropped.
    460 when the checksum does not match (the upload is untouched)."""
    hasher = CHECKSUM_ALGORITHMS[checksum.algorithm]()
    chunk = path.with_name(f"{path.name}.chunk-{secrets.token_hex(4)}")
    try:
        with chunk.open("w+b") as out:
            end, dropped = _copy(stream, out, start, length, None, hasher)
            if dropped:
                return None
            if hasher.digest() != checksum.digest:
                raise ApiError("Upload-Checksum does not match the chunk; the chunk was "
                               "discarded. Send it again.", slug="checksum_mismatch",
                               status=460)
            out.seek(0)
            with path.open("r+b") as upload:
                upload.seek(start)
                shutil.copyfileobj(out, upload, READ_SIZE)
                upload.flush()
                os.fsync(upload.fileno())
        return end
    finally:
        chunk.unlink(missing_ok=True)


def receive_chunk(session: Session, user: User, upload: Upload, stream: BinaryIO, *,
                  offset: int, checksum: Checksum | None = None,
                  content_length: int | None = None,
                  config: Mapping[str, Any] | None = None) -> tuple[Upload, Photo | None]:
    """Append a PATCH body at ``offset``; when the upload is whole, make its photo.

    409 if ``offset`` is not the server's, 413 past the declared length, 460 when the
    checksum does not match (the chunk is dropped). Returns the upload and, once whole, the
    photo.
    """
    cfg = _config(config)
    if content_length and offset + content_length > upload.length:
        raise PayloadTooLargeError("The chunk goes past the Upload-Length given at creation.",
                                   slug="upload_too_long")
    upload_id, path = upload.id, upload_path(upload, cfg)
    checkpoint(session)  # no transaction waits for the lock, nor stays open while bytes stream
    with _locked(path, cfg) as held:
        # Read under the hold (the commit above ended the reading transaction): the offset
        # another PATCH moved while this one waited.
        upload = session.get_one(Upload, upload_id)
        if offset != upload.offset:
            raise ConflictError(f"Upload-Offset {offset} does not match the server's "
                                f"{upload.offset}; resume from the server's offset.",
                                slug="offset_mismatch", upload_offset=upload.offset)
        if upload.complete:
            return upload, session.get(Photo, upload.photo_id) if upload.photo_id else None
        if not held:
            raise ApiError("The bytes of this upload are gone; start a new one.",
                           slug="upload_expired", status=410)
        checkpoint(session)
        return _receive_held(session, user, upload, stream, offset, checksum, path, cfg)


def _receive_held(session: Session, user: User, upload: Upload, stream: BinaryIO,
                  offset: int, checksum: Checksum | None, path: Path,
                  cfg: Mapping[str, Any]) -> tuple[Upload, Photo | None]:
    """The body of :func:`receive_chunk`, run while it holds the upload."""
    upload_id, length = upload.id, upload.length
    committed = offset

    def progress(position: int, out: BinaryIO) -> None:
        nonlocal committed
        # The last byte counts only once the body ends there: a body running past the length
        # is refused, and the upload must not look whole without its photo.
        if position - committed >= PROGRESS_BYTES and position < length:
            out.flush()
            os.fsync(out.fileno())  # the bytes are on disk before the offset says so
            _advance(session, upload_id, committed, position, cfg)
            committed = position

    if checksum is None:
        end, _dropped = _write(path, stream, offset, length, progress)
    else:
        verified = _write_verified(path, stream, offset, length, checksum)
        if verified is None:  # the line dropped: the chunk counts for nothing
            return session.get_one(Upload, upload_id), None
        end = verified
    if end != committed:
        _advance(session, upload_id, committed, end, cfg)
    upload = session.get_one(Upload, upload_id)
    if upload.offset < upload.length:  # every byte here, even if the line then dropped
        return upload, None
    return upload, finish_upload(session, user, upload, cfg)


def finish_upload(session: Session, user: User, upload: Upload,
                  config: Mapping[str, Any] | None = None) -> Photo:
    """Turn the whole upload into a photo; a rejected file takes its upload with it.

    The photo is made from a hard link to the upload's file, and the file itself is removed
    only once the upload row names the photo: a server killed half way through keeps every
    byte, and the next HEAD or PATCH finishes the job instead of asking for the photo again.
    """
    cfg = _config(config)
    path = upload_path(upload, cfg)
    with path.open("rb") as fh:
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    upload_id = upload.id
    work = path.with_name(path.name + ".finishing")
    work.unlink(missing_ok=True)  # left by an earlier attempt that was killed
    os.link(path, work)
    # No savepoint around it: a refusal comes before any write, and on SQLite a savepoint
    # would open a reading transaction across the slow photo checks, which then cannot
    # write once another connection has committed meanwhile (database is locked).
    try:
        photo, _created = accept_photo(session, user, work, sha256,
                                       client_uuid=upload.client_uuid,
                                       filename=upload.filename, config=cfg)
    except ApiError:
        work.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        session.execute(delete(Upload).where(Upload.id == upload_id))
        raise  # the caller keeps the deletion (the request boundary's keep_on_error)
    upload = session.get_one(Upload, upload_id)
    upload.photo_id = photo.id
    upload.completed_at = utcnow()
    upload.expires_at = utcnow() + timedelta(hours=float(cfg["UPLOAD_EXPIRY_HOURS"]))
    checkpoint(session)  # the row names the photo before the upload's bytes go
    path.unlink(missing_ok=True)
    return photo


def finish_if_whole(session: Session, user: User, upload: Upload,
                    config: Mapping[str, Any] | None = None) -> Photo | None:
    """Finish an upload whose bytes all arrived but whose photo was never made (a crash)."""
    if upload.complete or upload.offset < upload.length:
        return None
    cfg = _config(config)
    try:
        with _locked(upload_path(upload, cfg), cfg, wait=False) as held:
            return finish_upload(session, user, upload, cfg) if held else None
    except BlockingIOError:
        return None  # the PATCH that brought the last byte is making the photo


def discard_unfinished(session: Session, upload_id: str,
                       config: Mapping[str, Any] | None = None) -> None:
    """Delete the upload ``upload_id`` and its bytes unless it is gone or already a photo."""
    upload = session.get(Upload, upload_id)
    if upload is not None and not upload.complete:
        terminate_upload(session, upload, config)


def terminate_upload(session: Session, upload: Upload,
                     config: Mapping[str, Any] | None = None) -> None:
    """Delete the upload and its bytes (a finished upload's photo stays)."""
    if not upload.complete:
        cfg = _config(config)
        path = upload_path(upload, cfg)
        with _locked(path, cfg):  # a PATCH in progress ends first
            path.unlink(missing_ok=True)
    session.delete(upload)
    session.flush()


def purge_expired(session: Session, now: datetime | None = None,
                  config: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """Delete expired uploads (unfinished: with their bytes) and stray temp files.

    Returns (uploads removed, files removed).
    """
    cfg = _config(config)
    now = now or utcnow()
    expired = list(session.scalars(select(Upload).where(Upload.expires_at <= now)))
    files = 0
    for upload in expired:
        path = upload_path(upload, cfg)
        if not upload.complete and path.exists():
            path.unlink(missing_ok=True)
            files += 1
        session.delete(upload)
    session.flush()
    # Temp files of writers that crashed mid-upload are older than any live upload's expiry.
    files += photo_store(cfg).purge_tmp(older_than_s=float(cfg["UPLOAD_EXPIRY_HOURS"]) * 3600)
    return len(expired), files
