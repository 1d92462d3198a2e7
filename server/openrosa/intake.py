"""One posted part of a submission, through the services the JSON API uses.

The photos of the part are stored as they arrive (``services.photos``: the same checks,
the same EXIF reading), each under its derived id. Then the record is made by the visit or
report service from the body the API's own schema loads, so it gets the same rules, flags
and replay answers. While a photo the XML names has not arrived, the service answers
``dependency_missing``: a part marked ``*isIncomplete*`` is then accepted (202) and the
record waits for the part that brings the rest; a last part that still lacks one is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from schemas.reports import ReportCreateSchema
from schemas.visits import VisitCreateSchema
from server.errors import ApiError, DependencyMissingError
from server.models import Report, Visit
from server.openrosa.forms import VISIT_FORM
from server.openrosa.submission import Instance, SubmissionError, photo_uuid, record_body
from server.services import photos, reports, visits
from server.services.access import Access

__all__ = ["Received", "load_body", "store_photos", "make_record", "need_reports"]


@dataclass
class Received:
    """What one part achieved: the record (None while photos are missing) and a message."""

    record: Visit | Report | None
    created: bool
    missing: list[str]


def load_body(instance: Instance) -> dict[str, Any]:
    """The instance as the API's create schema loads it; 400 with the fields' messages."""
    schema = VisitCreateSchema() if instance.form is VISIT_FORM else ReportCreateSchema()
    try:
        return dict(schema.load(record_body(instance)))
    except ValidationError as exc:
        fields = "; ".join(f"{name}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                           for name, msgs in exc.normalized_messages().items())
        raise SubmissionError(f"表格内容不符合要求 (invalid answers): {fields}",
                              errors=exc.normalized_messages()) from exc


def store_photos(session: Session, access: Access, instance: Instance,
                 parts: Iterable[tuple[str, FileStorage]]) -> int:
    """Store the parts that are photos the instance names; how many were new."""
    wanted = set(instance.files)
    stored = 0
    for key, part in parts:
        name = key if key in wanted else (part.filename or "")
        if name not in wanted:
            continue  # another file of the instance folder (an audit log...): not ours
        access.require("photos.upload")
        tmp, sha256 = photos.receive_to_temp(cast(BinaryIO, part.stream))
        _photo, created = photos.accept_photo(
            session, access.user, tmp, sha256, client_uuid=photo_uuid(instance.instance_id, name),
            filename=name)
        stored += int(created)
    return stored


def make_record(session: Session, access: Access, instance: Instance,
                body: dict[str, Any]) -> Received:
    """Make (or find again) the record; ``record`` is None while photos are missing."""
    access.require(instance.form.permission)
    try:
        if instance.form is VISIT_FORM:
            visit, created = visits.create_visit(session, access, body)
            return Received(visit, created, [])
        report, created = reports.create_report(session, access, body)
        return Received(report, created, [])
    except DependencyMissingError as exc:
        ids = {m["client_uuid"] for m in exc.extra.get("missing", []) if m["kind"] == "photo"}
        names = [n for n in instance.files if photo_uuid(instance.instance_id, n) in ids]
        if not names:
            raise
        return Received(None, False, names)


def need_reports(session: Session, access: Access, visit: Visit,
                 body: dict[str, Any]) -> str | None:
    """Turn the visit's needs marked for a report into reports; why one could not be."""
    try:
        visits.make_need_reports(session, access, visit, body)
    except ApiError as exc:
        return exc.detail
    return None
