"""Communities and departments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ConflictError, NotFoundError
from server.models import Community, Department

__all__ = ["create_community", "create_department", "get_community"]


def create_community(session: Session, code: str, name: str) -> Community:
    """Create a community; 409 if the code exists."""
    if session.scalar(select(Community.id).where(Community.code == code)) is not None:
        raise ConflictError(f"A community with code {code} exists already.")
    community = Community(code=code, name=name)
    session.add(community)
    session.flush()
    return community


def create_department(session: Session, code: str, name: str,
                      webhook_url: str | None = None) -> Department:
    """Create a department; 409 if the code exists."""
    if session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise ConflictError(f"A department with code {code} exists already.")
    department = Department(code=code, name=name, webhook_url=webhook_url)
    session.add(department)
    session.flush()
    return department


def get_community(session: Session, code: str) -> Community:
    """The community with ``code``, or 404."""
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        raise NotFoundError(f"No community with code {code}.")
    return community
