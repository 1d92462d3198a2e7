"""Photos: one row per uploaded photo (its id is the client's UUID); bytes stored by sha256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import UTCDateTime, utcnow

__all__ = ["Photo"]


class Photo(db.Model):  # type: ignore[name-defined,misc]
    """An accepted photo and what its EXIF says; the file lives in the photo store by sha256.

    Many rows may share one sha256 (the same bytes uploaded twice are stored once).
    """

    __tablename__ = "photo"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the client's UUID
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    exif_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    exif_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    exif_altitude_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    # EXIF time as UTC; without OffsetTimeOriginal the camera's clock is taken as local time.
    exif_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exif_make: Mapped[str | None] = mapped_column(String(64), nullable=True)
    exif_model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    exif_orientation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
