"""Capture: build a record's wire body and validate it with the server's own schemas.

The body queued is exactly the JSON the server's endpoint takes (``schemas/``), checked by
the same marshmallow schema before it is queued, so a bad record is refused while the worker
is still at the door rather than hours later at sync time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from client_sync.exceptions import ValidationError

__all__ = ["household_body", "report_body", "validate", "visit_body", "wire_time"]


def _schemas() -> dict[str, type[Schema]]:
    from schemas.households import HouseholdCreateSchema
    from schemas.reports import ReportCreateSchema
    from schemas.visits import VisitCreateSchema

    return {"household": HouseholdCreateSchema, "visit": VisitCreateSchema,
            "report": ReportCreateSchema}


def wire_time(value: datetime | str | None) -> str:
    """ISO 8601 with offset; a naive time is refused (the server needs the zone)."""
    if value is None:
        return datetime.now(UTC).isoformat(timespec="seconds")
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValidationError(errors={"time": ["Give the time with its zone (e.g. +08:00)."]})
    return value.isoformat()


def _point(lat: float | None, lon: float | None, crs: str, accuracy_m: float | None,
           ) -> dict[str, Any] | None:
    if lat is None and lon is None:
        return None
    return {"lat": lat, "lon": lon, "crs": crs, "accuracy_m": accuracy_m}


def validate(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Load ``body`` with the server's schema for ``kind``; ValidationError with field errors."""
    try:
        loaded: dict[str, Any] = _schemas()[kind]().load(dict(body))
    except SchemaError as exc:
        messages = exc.normalized_messages()
        errors = messages if isinstance(messages, dict) else {"_schema": messages}
        raise ValidationError(errors=errors) from exc
    return loaded


def report_body(*, category: str, lat: float, lon: float, photo_ids: Iterable[str],
                description: str = "", crs: str = "wgs84", accuracy_m: float | None = None,
                captured_at: datetime | str | None = None, client_uuid: str | None = None,
                ) -> dict[str, Any]:
    """A ReportCreate body (not yet validated)."""
    return {"client_uuid": client_uuid or str(uuid.uuid4()), "category": category,
            "description": description, "location": _point(lat, lon, crs, accuracy_m),
            "captured_at": wire_time(captured_at), "photo_ids": list(photo_ids)}


def visit_body(*, outcome: str, lat: float, lon: float, household_id: int | None = None,
               household_client_uuid: str | None = None, visited_at: datetime | str | None = None,
               notes: str = "", needs: Iterable[Mapping[str, Any]] = (),
               photo_ids: Iterable[str] = (), follow_up_on: date | str | None = None,
               crs: str = "wgs84", accuracy_m: float | None = None,
               client_uuid: str | None = None) -> dict[str, Any]:
    """A VisitCreate body (not yet validated)."""
    body: dict[str, Any] = {
        "client_uuid": client_uuid or str(uuid.uuid4()), "visited_at": wire_time(visited_at),
        "location": _point(lat, lon, crs, accuracy_m), "outcome": outcome, "notes": notes,
        "needs": [dict(n) for n in needs], "photo_ids": list(photo_ids),
        "follow_up_on": follow_up_on.isoformat() if isinstance(follow_up_on, date)
        else follow_up_on}
    if household_id is not None:
        body["household_id"] = household_id
    if household_client_uuid is not None:
        body["household_client_uuid"] = household_client_uuid
    return body


def household_body(*, door: str, head_name: str, building_id: int | None = None,
                   lat: float | None = None, lon: float | None = None, unit: str = "",
                   code: str | None = None, phone: str | None = None,
                   id_number: str | None = None, members: int = 1, tags: Iterable[str] = (),
                   notes: str = "", crs: str = "wgs84", accuracy_m: float | None = None,
                   client_uuid: str | None = None) -> dict[str, Any]:
    """A HouseholdCreate body (not yet validated)."""
    return {"client_uuid": client_uuid or str(uuid.uuid4()), "building_id": building_id,
            "unit": unit, "door": door, "code": code, "head_name": head_name, "phone": phone,
            "id_number": id_number, "members": members,
            "location": _point(lat, lon, crs, accuracy_m), "tags": list(tags), "notes": notes}
