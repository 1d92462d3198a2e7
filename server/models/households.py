"""Households (住户) of the registry, and the yellow-ribbon requests (黄丝带) they raise."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from schemas.households import HOUSEHOLD_TAGS, SENSITIVE_TAGS
from server.crypto import EncryptedString, lookup_hash
from server.extensions import db
from server.models.org import Building, Grid
from server.models.types import BigIntPK, JSONType, UTCDateTime, utcnow

__all__ = ["Household", "YellowRibbonRequest", "HOUSEHOLD_TAGS", "SENSITIVE_TAGS"]


class Household(db.Model):  # type: ignore[name-defined,misc]
    """A household: where it lives, who heads it, its tags and when it must next be visited.

    ``last_visit_at``, ``last_met_at`` and the schedule columns are kept up to date by the
    visit and household services, so the agenda and coverage never scan the visits table.
    """

    __tablename__ = "household"
    __table_args__ = (UniqueConstraint("community_id", "code", name="uq_household_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Set when a device created it (offline); imported and web-made households have none.
    client_uuid: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)
    body_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), nullable=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), nullable=True,
                                                    index=True)
    unit: Mapped[str] = mapped_column(String(16), default="")
    door: Mapped[str] = mapped_column(String(32), default="")
    code: Mapped[str] = mapped_column(String(64))
    head_name: Mapped[str] = mapped_column(String(64))
    # Encrypted at rest (server/crypto.py); phone_hash finds a household by phone.
    phone: Mapped[str | None] = mapped_column(EncryptedString, nullable=True)
    phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    id_number: Mapped[str | None] = mapped_column(EncryptedString, nullable=True)
    members: Mapped[int] = mapped_column(Integer, default=1)
    lat: Mapped[float] = mapped_column(Float)  # WGS-84: its own point or its building's
    lon: Mapped[float] = mapped_column(Float)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")

    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_met_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The schedule (services/visit_policy.py): due from due_from_at, overdue after next_due_at.
    visit_interval_days: Mapped[int] = mapped_column(Integer, default=90)
    priority: Mapped[bool] = mapped_column(default=False)  # interval below the default
    due_from_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A worker's promise to come back (a visit's follow_up_on): the start of that local day,
    # until a visit meets the family on or after it. Due that day, overdue the next.
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When a visit found the family gone (搬离): the household leaves the agenda, the
    # coverage counts and the overdue lists until a later visit meets a family there or
    # someone who may edit it clears it. Never deleted: the record and its visits stay.
    moved_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"),
                                                      nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    grid: Mapped[Grid | None] = relationship()
    building: Mapped[Building | None] = relationship()

    @validates("phone")
    def _hash_phone(self, _key: str, value: str | None) -> str | None:
        self.phone_hash = lookup_hash(value)
        return value

    def has_tag(self, tag: str) -> bool:
        """Whether the household carries ``tag``."""
        return tag in (self.tags or [])


class YellowRibbonRequest(db.Model):  # type: ignore[name-defined,misc]
    """A family's request for help (黄丝带); the next visit that meets them closes it."""

    __tablename__ = "yellow_ribbon_request"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"),
                                                     nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"),
                                                           nullable=True)

    household: Mapped[Household] = relationship()


# The agenda reads "my grids, due from before now"; the list pages by id inside a grid.
Index("ix_household_grid_due", Household.grid_id, Household.due_from_at)
Index("ix_household_grid_id", Household.grid_id, Household.id)
Index("ix_household_grid_overdue", Household.grid_id, Household.priority, Household.next_due_at)
Index("ix_ribbon_open", YellowRibbonRequest.household_id, YellowRibbonRequest.closed_at)
