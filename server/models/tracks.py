"""Patrol tracks (巡查轨迹): the positions a worker's phone recorded while on patrol."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.org import Grid
from server.models.types import BigIntPK, JSONType, UTCDateTime, utcnow
from server.models.users import User

__all__ = ["Track", "track_grids"]

# The grids a track belongs to: those its worker worked in when it arrived (scopes.py).
track_grids = Table(
    "track_grid",
    db.metadata,
    Column("track_id", ForeignKey("track.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grid.id"), primary_key=True, index=True),
)


class Track(db.Model):  # type: ignore[name-defined,misc]
    """One patrol (or one segment of it): when, how far, and the positions in WGS-84."""

    __tablename__ = "track"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    worker_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    input_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    point_count: Mapped[int] = mapped_column(Integer)
    length_m: Mapped[float] = mapped_column(Float)  # geodesic, along the points
    # [[lat, lon, accuracy_m, seconds after started_at], ...]: WGS-84, compact (a 12-hour
    # patrol is 1,440 points), never queried inside; loaded only when read (deferred), so
    # a list of tracks or the patrol figures do not read every position.
    points: Mapped[list[list[Any]]] = mapped_column(JSONType, default=list, deferred=True)

    worker: Mapped[User] = relationship()
    grids: Mapped[list[Grid]] = relationship(secondary=track_grids, order_by=Grid.id)

    @property
    def grid_ids(self) -> list[int]:
        """The ids of the grids the track belongs to."""
        return [g.id for g in self.grids]

    @property
    def duration_s(self) -> float:
        """How long the patrol lasted, in seconds."""
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def point_dicts(self) -> list[dict[str, Any]]:
        """The points with their times: ``{lat, lon, accuracy_m, recorded_at}``."""
        start = self.started_at
        return [{"lat": lat, "lon": lon, "accuracy_m": acc,
                 "recorded_at": start + timedelta(seconds=offset)}
                for lat, lon, acc, offset in self.points]


# The dashboard and the map read a community's or a worker's days.
Index("ix_track_worker_started", Track.worker_id, Track.started_at)
Index("ix_track_community_started", Track.community_id, Track.started_at)
