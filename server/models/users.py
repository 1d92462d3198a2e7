"""People and their credentials: users with a role and a geography, bearer tokens, web
sessions, and the count of failed logins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db
from server.models.org import Building, Community, Department, Grid
from server.models.types import UTCDateTime, utcnow

__all__ = ["Role", "User", "ApiToken", "WebSession", "LoginFailure", "user_grids",
           "user_buildings"]


class Role(StrEnum):
    """What a user does; decides, with their grids, what they may read and write."""

    ADMIN = "admin"
    SECRETARY = "secretary"  # 社区书记: a community
    DISPATCHER = "dispatcher"  # 指挥中心: the command centre, all communities
    DEPARTMENT = "department"  # 职能部门: one department's cases
    SUPERVISOR = "supervisor"  # 网格监督员: grids
    GRID_WORKER = "grid_worker"  # 网格员: grids
    BUILDING_HEAD = "building_head"  # 楼长: buildings


user_grids = Table(
    "user_grid",
    db.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True),
)

user_buildings = Table(
    "user_building",
    db.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("building_id", ForeignKey("building.id", ondelete="CASCADE"), primary_key=True),
)


class User(db.Model):  # type: ignore[name-defined,misc]
    """A person who logs in."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community | None] = relationship()
    department: Mapped[Department | None] = relationship()
    grids: Mapped[list[Grid]] = relationship(secondary=user_grids, order_by=Grid.code)
    buildings: Mapped[list[Building]] = relationship(secondary=user_buildings)


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """An opaque bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()


class WebSession(db.Model):  # type: ignore[name-defined,misc]
    """A login to the web pages: the cookie holds a random id, only its SHA-256 is stored.

    Every request with the cookie checks this row, so logging out, disabling the user or
    resetting their password ends the session on every copy of the cookie.
    """

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()


class LoginFailure(db.Model):  # type: ignore[name-defined,misc]
    """Failed logins of one username in the current window, and the lock they led to.

    Kept in the database so every worker and host counts together, for every login path
    (API, web pages). Keyed by the username tried, known or not, so a lock tells nobody
    whether the account exists.
    """

    __tablename__ = "login_failure"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
