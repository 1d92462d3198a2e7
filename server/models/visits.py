"""House visits (入户走访): who went to which door, when, where they stood, what they found."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schemas.visits import VISIT_OUTCOMES
from server.extensions import db
from server.models.households import Household
from server.models.photos import Photo
from server.models.types import BigIntPK, JSONType, UTCDateTime, utcnow
from server.models.users import User

__all__ = ["Visit", "VisitNeed", "visit_photos", "VISIT_OUTCOMES"]

visit_photos = Table(
    "visit_photo",
    db.metadata,
    Column("visit_id", ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True),
    Column("photo_id", ForeignKey("photo.id"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)


class Visit(db.Model):  # type: ignore[name-defined,misc]
    """One visit to one household, with the proof of presence the server worked out."""

    __tablename__ = "visit"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), nullable=True)
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lat: Mapped[float] = mapped_column(Float)  # WGS-84
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    distance_m: Mapped[float] = mapped_column(Float)  # geodesic, visit point to household
    outcome: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    # off_site, late_entry; off_site is also a column so coverage can sum it in SQL.
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    off_site: Mapped[bool] = mapped_column(default=False)
    follow_up_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    household: Mapped[Household] = relationship()
    worker: Mapped[User] = relationship()
    photos: Mapped[list[Photo]] = relationship(secondary=visit_photos,
                                               order_by=visit_photos.c.position)
    needs: Mapped[list[VisitNeed]] = relationship(back_populates="visit",
                                                  order_by="VisitNeed.position",
                                                  cascade="all, delete-orphan")

    @property
    def photo_ids(self) -> list[str]:
        """The ids of the visit's photos, in order."""
        return [p.id for p in self.photos]


class VisitNeed(db.Model):  # type: ignore[name-defined,misc]
    """A need the family raised (诉求); it may become a report, linked both ways."""

    __tablename__ = "visit_need"
    __table_args__ = (UniqueConstraint("visit_id", "position", name="uq_visit_need_position"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based, as in the visit's needs list
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), nullable=True,
                                                  unique=True)

    visit: Mapped[Visit] = relationship(back_populates="needs")


# Coverage groups a time window by grid and by worker; on PostgreSQL the index carries the
# counted columns, so a community-month is an index-only scan. The household page lists
# its visits.
Index("ix_visit_grid_visited", Visit.grid_id, Visit.visited_at,
      postgresql_include=["household_id", "worker_id", "outcome", "off_site"])
Index("ix_visit_worker_visited", Visit.worker_id, Visit.visited_at)
Index("ix_visit_household_visited", Visit.household_id, Visit.visited_at)
