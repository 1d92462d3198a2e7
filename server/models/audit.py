"""The audit log: who read or changed what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import BigIntPK, JSONType, UTCDateTime, utcnow

__all__ = ["AuditLog"]


class AuditLog(db.Model):  # type: ignore[name-defined,misc]
    """One audited action (a login, a read of a full household record, an import...)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


Index("ix_audit_log_object", AuditLog.object_type, AuditLog.object_id)
Index("ix_audit_log_user_at", AuditLog.user_id, AuditLog.at)
