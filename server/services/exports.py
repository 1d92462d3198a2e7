"""Spreadsheet exports made by a job: the request asks, a job writes the file, the asker
fetches it.

``request_household_export`` checks who asks (the view has checked the community) and
defers the job ``exports.households`` in the request's transaction; it answers with an
export id, a token signed with the app's secret that names the asker, the community, the
format and a new random name, so no table is needed and nobody else can fetch the file.
The job (``server.jobs.tasks.export_households``) writes the sheet as the asker may see it
(masked as their role requires, audited like the direct export) into the photo store's
``blobs/`` (the shared volume or the bucket, so any host serves it). ``export_file`` gives the file,
or says it is still being made (202), or that the id is not the caller's or too old (404).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from server import jobs
from server.errors import NotFoundError
from server.models import Community, User

__all__ = ["EXPORT_TASK", "ExportPendingError", "export_file", "request_household_export"]

EXPORT_TASK = "exports.households"
RETRY_AFTER_S = 2
KEEP_S = 24 * 3600  # an export may be fetched for a day
PENDING_S = 3600  # a file still missing an hour after it was asked for has failed
_SALT = "gridwork-export"


class ExportPendingError(Exception):
    """The export's job has not written the file yet (answered 202)."""

    retry_after = RETRY_AFTER_S


def _signer(config: Mapping[str, Any] | None = None) -> URLSafeTimedSerializer:
    cfg = config if config is not None else current_app.config
    return URLSafeTimedSerializer(str(cfg["SECRET_KEY"]), salt=_SALT)


def _blob(user_id: int, name: str, fmt: str) -> str:
    return f"exports/{user_id}-{name}.{fmt}"


def request_household_export(session: Session, user: User, community: Community,
                             fmt: str) -> str:
    """Defer the export of ``community``'s households for ``user``; its id (a token)."""
    name = uuid.uuid4().hex
    jobs.defer(session, EXPORT_TASK, user_id=user.id, community_id=community.id, fmt=fmt,
               blob=_blob(user.id, name, fmt))
    return str(_signer().dumps({"u": user.id, "n": name, "f": fmt, "c": community.code}))


def export_file(user: User, export_id: str) -> tuple[BinaryIO, str, str]:
    """(file, format, community code) of the caller's export; ExportPendingError while the
    job runs; 404 for another user's id, a forged one, or one past its day."""
    from server.storage import open_store

    missing = NotFoundError(f"No export {export_id[:32]}... of yours (exports last a day).")
    try:
        claims, signed_at = _signer().loads(export_id, max_age=KEEP_S, return_timestamp=True)
    except (BadSignature, SignatureExpired):
        raise missing from None
    if not isinstance(claims, dict) or claims.get("u") != user.id:
        raise missing
    fmt = str(claims["f"])
    opened = open_store(current_app.config).open_blob(_blob(user.id, str(claims["n"]), fmt))
    if opened is not None:
        return opened, fmt, str(claims["c"])
    from datetime import UTC, datetime

    if (datetime.now(UTC) - signed_at).total_seconds() < PENDING_S:
        raise ExportPendingError(f"The export {export_id[:16]}... is being made.")
    raise missing
