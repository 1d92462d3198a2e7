"""The organisation: communities, their grids and buildings, and the departments cases go to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.types import JSONType, UTCDateTime, utcnow

__all__ = ["Community", "Grid", "Building", "Department"]


class Community(db.Model):  # type: ignore[name-defined,misc]
    """A community (社区): the unit a secretary runs; holds 4 to 8 grids."""

    __tablename__ = "community"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Visit interval in days per household tag; missing keys fall back to the defaults.
    visit_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grids: Mapped[list[Grid]] = relationship(back_populates="community")


class Grid(db.Model):  # type: ignore[name-defined,misc]
    """A grid (网格): a polygon of streets one or two workers are responsible for."""

    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # GeoJSON geometry (Polygon or MultiPolygon) in WGS-84, lon/lat order.
    boundary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    min_lat: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    community: Mapped[Community] = relationship(back_populates="grids")


class Building(db.Model):  # type: ignore[name-defined,misc]
    """A building (楼栋) in a grid; households hang off it and take its point by default."""

    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("community_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True, nullable=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    units: Mapped[int] = mapped_column(Integer, default=1)

    grid: Mapped[Grid | None] = relationship()


class Department(db.Model):  # type: ignore[name-defined,misc]
    """A functional department (职能部门) that receives dispatched cases."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    webhook_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)


Index("ix_building_lat_lon", Building.lat, Building.lon)
