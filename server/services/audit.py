"""Writing the audit log."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from server.models import AuditLog, User

__all__ = ["audit"]


def audit(session: Session, user: User | None, action: str, object_type: str | None = None,
          object_id: object = None, **detail: Any) -> None:
    """Add an audit entry to the session; the caller's commit writes it with the action."""
    session.add(AuditLog(
        user_id=user.id if user else None, action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=request.remote_addr if has_request_context() else None,
        detail=detail or None,
    ))
