"""The demo's ODK Collect login: a grid worker's Collect password, the same on every run."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Community, Role, User
from server.openrosa.auth import issue_collect_password

__all__ = ["seed"]


def seed(session: Session, community: Community) -> Iterator[str]:
    """Give the community's first grid worker a Collect password; say how to use it."""
    worker = session.scalar(select(User).where(
        User.role == Role.GRID_WORKER.value, User.community_id == community.id,
        User.active.is_(True)).order_by(User.username).limit(1))
    if worker is None:
        return
    password = issue_collect_password(session, worker, salt="demo")
    yield (f"ODK Collect / KoboCollect: server URL http://<this computer>:<port>/openrosa, "
           f"user {worker.username}, password {password} (its Collect password: Digest, for "
           f"plain http; or scan: gridwork odk qr {worker.username} --url http://<address>:<port>).")
