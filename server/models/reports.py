"""Report categories and reports (事件), which become cases when the command centre accepts them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schemas.reports import REPORT_STATUSES
from server.extensions import db
from server.models.org import Department, Grid
from server.models.photos import Photo
from server.models.types import BigIntPK, JSONType, UTCDateTime, utcnow
from server.models.users import User

__all__ = ["Category", "Report", "report_photos", "REPORT_STATUSES"]

report_photos = Table(
    "report_photo",
    db.metadata,
    Column("report_id", ForeignKey("report.id", ondelete="CASCADE"), primary_key=True),
    Column("photo_id", ForeignKey("photo.id"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)


class Category(db.Model):  # type: ignore[name-defined,misc]
    """A report category (街巷十乱十患) with its handling deadline; retired ones stay valid."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    sla_hours: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Report(db.Model):  # type: ignore[name-defined,misc]
    """A geotagged photo report; its ``status`` walks the case workflow (立案 → 结案)."""

    __tablename__ = "report"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    body_sha256: Mapped[str] = mapped_column(String(64))  # canonical body, for replays
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), nullable=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float] = mapped_column(Float)  # WGS-84
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # outside_grid, location_mismatch, stale_photo (and what later checks add)
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    flag_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    possible_duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("report.id"), nullable=True)

    # The case workflow (issue: 立案 → 派单 → 处置 → 核查 → 结案)
    status: Mapped[str] = mapped_column(String(16), default="reported")
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic concurrency
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"),
                                                      nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_on_time: Mapped[bool | None] = mapped_column(nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __mapper_args__ = {"version_id_col": version}

    reporter: Mapped[User] = relationship()
    grid: Mapped[Grid | None] = relationship()
    department: Mapped[Department | None] = relationship()
    category: Mapped[Category] = relationship()
    photos: Mapped[list[Photo]] = relationship(secondary=report_photos,
                                               order_by=report_photos.c.position)


Index("ix_report_status_grid", Report.status, Report.grid_id)
Index("ix_report_lat_lon", Report.lat, Report.lon)
Index("ix_report_created_at", Report.created_at)
Index("ix_report_category_created", Report.category_code, Report.created_at)
Index("ix_report_department_status", Report.department_id, Report.status)
