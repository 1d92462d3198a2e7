"""Photos: turn a received file into a stored, checked photo, and serve it to whoever may see it.

A photo's id is the client's UUID, so a report captured offline names its photos before any
byte is uploaded. The same id with the same bytes is a replay; with other bytes, a conflict.
The same bytes under two ids are two rows sharing one stored file (content addressed).

The request checks the photo (a 1/8-scale decode proves it whole), stores the original and
answers (should the transaction that holds its row roll back, bytes this photo brought and
that no row names afterwards are deleted again: ``transactions.after_rollback``); its
display image and thumb are a job (``photos.derive``, ``server.jobs``) deferred in the same
transaction as the row. Until they exist, asking for them answers 202.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import jobs
from server.errors import ApiError, ConflictError, NotFoundError
from server.models import Photo, User
from server.services.access import Access
from server.services.idempotency import insert_or_twin
from server.services.scopes import sees_photo
from server.storage import (
    PhotoInfo,
    PhotoRejectedError,
    PhotoStore,
    keep_original,
    open_store,
    receive_stream,
)
from server.transactions import after_rollback

__all__ = ["photo_store", "photo_problem", "accept_photo", "receive_to_temp",
           "visible_photo", "photo_file", "exif_time_utc", "DerivativePendingError",
           "DERIVE_TASK"]

DERIVE_TASK = "photos.derive"
RETRY_AFTER_S = 2  # a 12 MP photo's derivatives take a few hundred ms once a worker has it

log = logging.getLogger(__name__)


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return config if config is not None else current_app.config


class DerivativePendingError(Exception):
    """A display image or thumb asked for before its job made it (answered 202)."""

    def __init__(self, photo_id: str, kind: str) -> None:
        super().__init__(f"The {kind} image of photo {photo_id} is being made.")
        self.retry_after = RETRY_AFTER_S


def photo_store(config: Mapping[str, Any] | None = None) -> PhotoStore:
    """The photo store: the folder ``MEDIA_DIR``, or the bucket ``PHOTO_STORE`` names
    (``s3://bucket/prefix``, endpoint ``S3_ENDPOINT_URL``; uploads arrive in MEDIA_DIR/tmp)."""
    return open_store(_config(config))


def photo_problem(exc: PhotoRejectedError) -> ApiError:
    """The problem+json error for a rejected file (413, 415 or 422, with the library's slug)."""
    error = ApiError(exc.detail, slug=exc.problem_type, status=exc.status)
    error.title = exc.title
    return error


def exif_time_utc(taken: datetime | None, timezone: str) -> datetime | None:
    """EXIF capture time in UTC; a time without offset is the camera's local clock in ``timezone``.

    Phones in China rarely write OffsetTimeOriginal, and their clock shows Beijing time.
    """
    if taken is None:
        return None
    if taken.tzinfo is None:
        taken = taken.replace(tzinfo=ZoneInfo(timezone))
    try:
        return taken.astimezone(UTC)
    except OverflowError:  # "0001:01:01 00:00:00" in Beijing time is before year 1 in UTC
        return None


def _replay(existing: Photo, user: User, sha256: str) -> Photo:
    if existing.sha256 != sha256 or existing.uploaded_by_id != user.id:
        raise ConflictError(
            f"A different photo was already uploaded with id {existing.id}. "
            "Another photo must be sent with a new client_uuid.", client_uuid=existing.id)
    return existing


def _new_row(photo_id: str, info: PhotoInfo, user: User, filename: str | None,
             timezone: str) -> Photo:
    exif = info.exif
    return Photo(
        id=photo_id, sha256=info.sha256, size_bytes=info.size_bytes, format=info.format,
        mime=info.mime, width=info.width, height=info.height,
        filename=(filename or None) and filename[:255],
        exif_lat=exif.lat, exif_lon=exif.lon, exif_altitude_m=exif.altitude_m,
        exif_taken_at=exif_time_utc(exif.taken_at, timezone),
        exif_make=exif.make and exif.make[:64], exif_model=exif.model and exif.model[:64],
        exif_orientation=exif.orientation, uploaded_by_id=user.id)


def accept_photo(session: Session, user: User, src: Path, sha256: str, *,
                 client_uuid: str | None = None, filename: str | None = None,
                 config: Mapping[str, Any] | None = None) -> tuple[Photo, bool]:
    """Check, store and record a fully received file; ``src`` is consumed either way.

    Returns (photo, created): created is False for a replay (same id, same bytes, same
    uploader). Raises the problem for a rejected file (nothing is left behind) and 409 for
    the same id with other bytes.
    """
    cfg = _config(config)
    photo_id = client_uuid or str(uuid.uuid4())
    existing = session.get(Photo, photo_id)
    if existing is not None:
        src.unlink(missing_ok=True)
        return _replay(existing, user, sha256), False
    store = photo_store(cfg)
    fresh = not store.exists("original", sha256)
    try:
        info = keep_original(src, store, sha256=sha256, max_pixels=int(cfg["MAX_PHOTO_PIXELS"]))
    except PhotoRejectedError as exc:
        raise photo_problem(exc) from exc
    try:
        photo, created = _record(
            session, _new_row(photo_id, info, user, filename, str(cfg["TIMEZONE"])), user,
            sha256)
        if created and (fresh or not store.exists("thumb", sha256)):
            jobs.defer(session, DERIVE_TASK, lock=f"derive:{sha256}", sha256=sha256)
        if created and fresh:
            after_rollback(session, lambda: _drop_unreferenced(session, store, sha256))
        return photo, created
    except BaseException:
        # Bytes that were not here before and that no row names must not stay (the same bytes
        # racing in under another id at this very moment would lose them: a rare, loud 404).
        if fresh:
            store.delete(sha256)
        raise


def _drop_unreferenced(session: Session, store: PhotoStore, sha256: str) -> None:
    """After a rollback took this photo's row away: delete its bytes unless a row (committed
    before, or by another request meanwhile) still names them (the store shares a file)."""
    if session.scalar(select(Photo.id).where(Photo.sha256 == sha256).limit(1)) is None:
        store.delete(sha256)
        log.info("photo bytes %s deleted: the transaction that stored them rolled back", sha256)


def _record(session: Session, photo: Photo, user: User, sha256: str) -> tuple[Photo, bool]:
    """Insert the row of a stored photo; a row with its id made meanwhile makes this a replay."""
    photo_id = photo.id

    def insert() -> Photo:
        session.add(photo)
        session.flush()
        return photo

    def twin() -> Photo | None:  # the same id arrived twice at once: the first row wins
        existing = session.get(Photo, photo_id)
        return None if existing is None else _replay(existing, user, sha256)

    return insert_or_twin(lambda: _savepoint(session), insert, twin)


def _savepoint(session: Session) -> Any:
    """A savepoint inside the caller's transaction, so the caller's rollback takes the row.

    pysqlite begins SQLite's transaction only before a write; a SAVEPOINT before any write
    is then the outermost transaction and its RELEASE commits the row (a refused OpenRosa
    submission kept a photo row without its record). BEGIN first, as pysqlite would have
    before the INSERT (a deferred BEGIN: nothing is read or locked until the INSERT).
    """
    conn = session.connection()
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and dbapi is not None and not dbapi.in_transaction:
        conn.exec_driver_sql("BEGIN")
    return session.begin_nested()


def receive_to_temp(stream: BinaryIO,
                    config: Mapping[str, Any] | None = None) -> tuple[Path, str]:
    """Stream an upload into the store's tmp folder; 413 as soon as it passes MAX_PHOTO_BYTES.

    Returns (temp path, sha256) for ``accept_photo``.
    """
    cfg = _config(config)
    try:
        tmp, sha256, _size = receive_stream(stream, photo_store(cfg).tmp_dir,
                                            max_bytes=int(cfg["MAX_PHOTO_BYTES"]))
    except PhotoRejectedError as exc:
        raise photo_problem(exc) from exc
    return tmp, sha256


def visible_photo(session: Session, access: Access, photo_id: str) -> Photo:
    """The photo ``photo_id`` if this user may see it; 404 otherwise (existence is not told)."""
    photo = session.get(Photo, photo_id)
    if photo is None or not sees_photo(session, access, photo):
        raise NotFoundError(f"No photo {photo_id} in your scope.")
    return photo


def photo_file(session: Session, photo: Photo, kind: str,
               config: Mapping[str, Any] | None = None) -> BinaryIO:
    """The stored file of one kind (original, display, thumb), open for reading.

    A display image or thumb not made yet raises DerivativePendingError, after deferring
    its job again (a job lost with an embedded server's process; a queued one is not
    doubled). A missing original is 404.
    """
    store = photo_store(config)
    opened = store.open(kind, photo.sha256)  # type: ignore[arg-type]
    if opened is not None:
        return opened
    if kind != "original" and store.exists("original", photo.sha256):
        jobs.defer(session, DERIVE_TASK, lock=f"derive:{photo.sha256}", sha256=photo.sha256)
        raise DerivativePendingError(photo.id, kind)
    log.error("photo %s: its %s file is missing from the store", photo.id, kind)
    raise NotFoundError(f"The {kind} image of photo {photo.id} is not on this server.")
