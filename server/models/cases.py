"""The case workflow's records: the append-only timeline of steps, and webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db
from server.models.types import BigIntPK, JSONType, UTCDateTime, utcnow

__all__ = ["CaseStep", "WebhookDelivery"]


class CaseStep(db.Model):  # type: ignore[name-defined,misc]
    """One move of a case (立案, 派单, 回告...): written once, never updated or deleted.

    ``seq`` numbers the steps of a report from 1; the unique (report, seq) pair is a second
    guard, behind the report's version column, against two moves landing at once.
    """

    __tablename__ = "case_step"
    __table_args__ = (UniqueConstraint("report_id", "seq"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # Null for the system's own steps (escalation).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    actor_role: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"),
                                                      nullable=True)
    photo_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)  # WGS-84
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A move sent from a phone carries the device's id for it, so that sending it again after
    # a lost answer finds this step instead of failing on the case's moved-on state.
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)
    body_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """A signed POST owed to a department's webhook; written with the step it reports.

    ``next_attempt_at`` is null once delivered or given up (then ``last_error`` says why).
    """

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"),
                                           index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("case_step.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_case_step_at", CaseStep.at)
Index("ix_webhook_delivery_due", WebhookDelivery.next_attempt_at)
