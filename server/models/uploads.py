"""Resumable uploads (tus 1.0.0): one row per upload while its bytes arrive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import JSONType, UTCDateTime, utcnow

__all__ = ["Upload"]


class Upload(db.Model):  # type: ignore[name-defined,misc]
    """A tus upload: its declared length, the bytes received so far and, once whole, its photo.

    The bytes live in the photo store's ``tmp/`` folder under ``temp_name`` until the last one
    arrives; then the file becomes a stored photo and ``photo_id`` names it.
    """

    __tablename__ = "upload"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random hex, in the URL
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    # "offset" is an SQL keyword: the column has a plainer name.
    offset: Mapped[int] = mapped_column("received", BigInteger, default=0)
    # Decoded Upload-Metadata pairs ("metadata" is taken by SQLAlchemy's declarative base).
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    client_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    temp_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    photo_id: Mapped[str | None] = mapped_column(ForeignKey("photo.id", ondelete="SET NULL"),
                                                 nullable=True)

    @property
    def complete(self) -> bool:
        """Whether every byte has arrived and the photo was made."""
        return self.completed_at is not None


Index("ix_upload_expires_at", Upload.expires_at)
