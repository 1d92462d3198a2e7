"""Capture: build a record's wire body and validate it with the server's own schemas.

The body queued is exactly the JSON the server's endpoint takes (``schemas/``), checked by
the same marshmallow schema before it is queued, so a bad record is refused while the worker
is still at the door rather than hours later at sync time.

What the server would only *flag* is pointed out here too (``report_warnings``,
``visit_warnings``), against the offline cache: a point outside my grids, a visit far from
the household, a photo taken far from the report. The record is queued all the same; the
server's flags decide, and these hints use the thresholds the server published
(``GET /api/v1/capture-policy``, kept by ``gridsync pull``), or its defaults before a pull.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import prcoords
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from client_sync.cache import LocalCache, distance_m
from client_sync.exceptions import ValidationError

__all__ = ["DEFAULT_CATEGORY", "check_need_categories", "default_category", "household_body",
           "household_by_code", "report_body", "report_warnings", "to_wgs84", "track_body",
           "validate", "visit_body", "visit_warnings", "wire_time"]

DEFAULT_CATEGORY = "other"  # in the server's default categories (其他)


def _schemas() -> dict[str, type[Schema]]:
    from schemas.households import HouseholdCreateSchema
    from schemas.reports import ReportCreateSchema
    from schemas.tracks import TrackCreateSchema
    from schemas.visits import VisitCreateSchema

    return {"household": HouseholdCreateSchema, "visit": VisitCreateSchema,
            "report": ReportCreateSchema, "track": TrackCreateSchema}


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


def track_body(*, started_at: datetime | str, ended_at: datetime | str,
               points: Iterable[Sequence[Any] | Mapping[str, Any]], crs: str = "wgs84",
               client_uuid: str | None = None) -> dict[str, Any]:
    """A TrackCreate body (not yet validated): points as ``[lat, lon, accuracy_m,
    recorded_at]``, a ``recorded_at`` given as a datetime sent with its zone."""
    wire = []
    for point in points:
        if isinstance(point, Mapping):
            point = [point.get("lat"), point.get("lon"), point.get("accuracy_m"),
                     point.get("recorded_at")]
        item = list(point)  # a point of the wrong shape is left for the schema to refuse
        if len(item) == 4 and isinstance(item[3], datetime):
            item[3] = wire_time(item[3])
        wire.append(item)
    return {"client_uuid": client_uuid or str(uuid.uuid4()), "started_at": wire_time(started_at),
            "ended_at": wire_time(ended_at), "crs": crs, "points": wire}


# -- checks against the offline cache -------------------------------------------------------


def check_need_categories(cache: LocalCache, needs: Iterable[Mapping[str, Any]]) -> None:
    """Refuse a need whose category is not among the pulled ones (when any are pulled)."""
    known = [c["code"] for c in cache.categories()]
    unknown = sorted({n["category"] for n in needs} - set(known)) if known else []
    if unknown:
        raise ValidationError(errors={"needs": [
            f"Unknown category {code!r}: give one of {', '.join(known)}." for code in unknown]})


def household_by_code(cache: LocalCache, code: str) -> tuple[int | None, str | None]:
    """The household with this code in the offline cache, as (id, client_uuid)."""
    found = cache.find_households(code=code)
    if not found:
        raise ValidationError(errors={"household": [
            f"No household {code} in the offline cache: look for it with 'gridsync "
            "households --search TEXT', or run 'gridsync pull' first."]})
    if len(found) > 1:
        which = ", ".join(f"id {h['id']}" if h.get("id") is not None
                          else f"uuid {h.get('client_uuid')}" for h in found)
        raise ValidationError(errors={"household": [
            f"{len(found)} households have the code {code} ({which}): give --household-id "
            "or --household-uuid."]})
    if found[0].get("id") is not None:
        return int(found[0]["id"]), None
    return None, str(found[0]["client_uuid"])


def default_category(cache: LocalCache) -> str:
    """The category of a report given none: ``other``, if the pulled categories have it."""
    if any(c["code"] == DEFAULT_CATEGORY for c in cache.categories()):
        return DEFAULT_CATEGORY
    raise ValidationError(errors={"category": [
        f"Give --category: there is no {DEFAULT_CATEGORY!r} category in the offline cache "
        "(run 'gridsync pull' to bring the categories)."]})


# -- warnings: what the server will flag -----------------------------------------------------


def to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """A GCJ-02 or BD-09 point in WGS-84, as the server converts it (``server.geo.crs``)."""
    if crs == "wgs84" or not prcoords.sanity_in_china_p(prcoords.Coords(lat, lon)):
        return lat, lon
    if crs == "gcj02":
        wgs = prcoords.gcj_wgs_bored((lat, lon))
    else:
        if not prcoords.sanity_in_china_p(prcoords.bd_gcj((lat, lon))):
            return lat, lon  # the server's guard: prcoords would warn on this thin band
        wgs = prcoords.bd_wgs_bored((lat, lon))
    return float(wgs.lat), float(wgs.lon)


def _wgs84_of(point: Mapping[str, Any] | None) -> tuple[float, float] | None:
    if not point or point.get("lat") is None or point.get("lon") is None:
        return None
    return to_wgs84(float(point["lat"]), float(point["lon"]), point.get("crs") or "wgs84")


def _outside_grids(cache: LocalCache, where: tuple[float, float], what: str) -> list[str]:
    inside = cache.grids_containing(*where)
    if inside is None or inside:
        return []  # no grids pulled yet: nothing to compare with
    mine = ", ".join(g.get("code") or str(g.get("id")) for g in cache.grids())
    return [f"{what} at {where[0]:.6f}, {where[1]:.6f} is outside your grids ({mine})."]


def report_warnings(cache: LocalCache, body: Mapping[str, Any],
                    photo_points: Iterable[tuple[str, float, float]] = ()) -> list[str]:
    """What the server will flag on this report body: outside my grids, and each photo
    (``(name, lat, lon)`` from its EXIF) farther than the policy's ``location_mismatch_m``."""
    where = _wgs84_of(body.get("location"))
    if where is None:
        return []
    found = _outside_grids(cache, where, "The report")
    limit_m = cache.capture_policy()["location_mismatch_m"]
    for name, lat, lon in photo_points:
        metres = distance_m(where[0], where[1], lat, lon)
        if metres > limit_m:
            found.append(f"{name} was taken {metres:.0f} m from the report's position "
                         f"(its EXIF GPS); more than {limit_m:.0f} m is flagged.")
    return found


def visit_warnings(cache: LocalCache, body: Mapping[str, Any]) -> list[str]:
    """What the server will flag on this visit body: farther from the household than
    the policy's ``off_site_m`` plus the GPS accuracy (capped), or outside my grids."""
    where = _wgs84_of(body.get("location"))
    if where is None:
        return []
    if body.get("household_id") is not None:
        household = cache.household(int(body["household_id"]))
    else:
        household = cache.local_household(str(body.get("household_client_uuid")))
    home = _wgs84_of(household.get("location")) if household else None
    if home is None:
        return _outside_grids(cache, where, "The visit")
    accuracy = (body.get("location") or {}).get("accuracy_m") or 0.0
    policy = cache.capture_policy()
    allowance = policy["off_site_m"] + min(float(accuracy), policy["off_site_accuracy_cap_m"])
    metres = distance_m(where[0], where[1], home[0], home[1])
    if metres <= allowance:
        return []
    name = (household or {}).get("code") or (household or {}).get("door") or "the household"
    return [f"You are {metres:.0f} m from {name}; a visit more than {allowance:.0f} m away "
            "is flagged off_site."]
