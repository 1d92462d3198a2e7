"""The household registry: create, read (scoped), update, yellow-ribbon requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.crypto import lookup_hash
from server.errors import ConflictError, ForbiddenError, NotFoundError, UnprocessableError
from server.geo import to_wgs84
from server.models import Building, Community, Grid, Household, User, YellowRibbonRequest
from server.models.households import HOUSEHOLD_TAGS, SENSITIVE_TAGS
from server.models.types import utcnow
from server.services.access import Access
from server.services.audit import audit
from server.services.grids import locate_grid
from server.services.idempotency import body_digest, create_once, find_replay
from server.services.scopes import (
    household_scope,
    require_household_place,
    require_household_reach,
    sees_household,
)
from server.services.visit_policy import apply_schedule

__all__ = ["Placement", "place", "default_code", "create_household", "get_household",
           "household_query", "update_household", "raise_yellow_ribbon", "close_ribbons",
           "sync_ribbon_tag", "tag_clause", "status_clause", "ordered_tags"]


@dataclass(frozen=True)
class Placement:
    """Where a household is: its community, grid, building and WGS-84 point."""

    community_id: int
    grid_id: int
    building: Building | None
    lat: float
    lon: float


def place(session: Session, building_id: int | None,
          location: Mapping[str, Any] | None) -> Placement:
    """Resolve a building and/or point to a placement; 422 if it is in no grid."""
    building = session.get(Building, building_id) if building_id is not None else None
    if building_id is not None and building is None:
        raise UnprocessableError("No such building.", errors={"building_id": ["Unknown."]})
    if location:
        lat, lon = to_wgs84(location["lat"], location["lon"], location.get("crs") or "wgs84")
    elif building is not None:
        lat, lon = building.lat, building.lon
    else:
        raise UnprocessableError("Give building_id or location.",
                                 errors={"location": ["Give building_id or location."]})
    grid_id = building.grid_id if building is not None else None
    if grid_id is None:
        grid = locate_grid(session, lat, lon)
        if grid is None:
            raise UnprocessableError("The household lies in no grid.", slug="outside_grid",
                                     errors={"location": ["Not inside any grid."]})
        grid_id = grid.id
    community_id = (building.community_id if building is not None
                    else session.get(Grid, grid_id).community_id)  # type: ignore[union-attr]
    return Placement(community_id, grid_id, building, lat, lon)


def ordered_tags(tags: Iterable[str]) -> list[str]:
    """Tags without repeats, most demanding first (the order of ``HOUSEHOLD_TAGS``)."""
    wanted = set(tags)
    return [t for t in HOUSEHOLD_TAGS if t in wanted]


def default_code(building_code: str | None, unit: str, door: str) -> str:
    """The household code when none is given: building-unit-door (e.g. ``07-2-301``)."""
    return "-".join(part for part in (building_code, unit, door) if part)


def _check_code_free(session: Session, access: Access, community_id: int, code: str,
                     household_id: int | None = None) -> None:
    taken = session.scalar(select(Household).where(
        Household.community_id == community_id, Household.code == code))
    if taken is not None and taken.id != household_id:
        # The id only for a household the user may see: codes are unique in a community,
        # but which record holds one in another grid is not theirs to learn.
        raise ConflictError(f"Household code {code} is taken in this community.",
                            slug="household_code_taken",
                            existing_id=taken.id if sees_household(access, taken) else None)


def create_household(session: Session, access: Access, body: dict[str, Any],
                     ) -> tuple[Household, bool]:
    """Create a household (replay-safe on ``client_uuid``); return (household, created)."""
    digest = body_digest(body)
    uuid = body.get("client_uuid")
    replay = find_replay(session, Household, uuid, digest) if uuid else None
    if replay is not None:
        return replay, False
    spot = place(session, body["building_id"], body["location"])
    require_household_place(access, spot.grid_id)
    code = body["code"] or default_code(spot.building.code if spot.building else None,
                                        body["unit"], body["door"])
    _check_code_free(session, access, spot.community_id, code)

    def build() -> Household:
        now = utcnow()
        household = Household(
            client_uuid=uuid, body_sha256=digest if uuid else None,
            community_id=spot.community_id, grid_id=spot.grid_id,
            building_id=spot.building.id if spot.building else None, unit=body["unit"],
            door=body["door"], code=code, head_name=body["head_name"], phone=body["phone"],
            id_number=body["id_number"], members=body["members"], lat=spot.lat, lon=spot.lon,
            tags=list(body["tags"]), notes=body["notes"], created_by_id=access.user.id,
            created_at=now, updated_at=now)
        apply_schedule(session, household, ribbon_raised_at=None)
        session.add(household)
        session.flush()
        sync_ribbon_tag(session, household, access.user, now)
        return household

    try:
        if uuid:
            household, created = create_once(session, Household, uuid, digest, build)
        else:
            with session.begin_nested():
                household, created = build(), True
    except IntegrityError as exc:  # another request took the code between check and insert
        raise ConflictError(f"Household code {code} is taken in this community.",
                            slug="household_code_taken") from exc
    if created:
        audit(session, access.user, "household_create", "household", household.id)
    session.flush()
    return household, created


def get_household(session: Session, access: Access, household_id: int) -> Household:
    """The household if it is in the reader's geography; 404 otherwise.

    Outside the reader's grids or buildings it is "not found", as for every other record:
    a 403 would tell a neighbouring grid's worker that the household exists.
    """
    household = session.get(Household, household_id)
    if household is None or not sees_household(access, household):
        raise NotFoundError(f"No household {household_id} in your scope.")
    return household


def tag_clause(session: Session, tag: str) -> ColumnElement[bool]:
    """SQL: the household carries ``tag`` (JSONB containment, or SQLite's json_each)."""
    if session.get_bind().dialect.name == "postgresql":
        # The column is JSON().with_variant(JSONB): coerce to reach JSONB's @> operator.
        return type_coerce(Household.tags, JSONB).contains([tag])  # type: ignore[no-any-return]
    each = func.json_each(Household.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def status_clause(statuses: Iterable[str], now: datetime) -> ColumnElement[bool]:
    """SQL: the household's schedule status is one of ``statuses`` at ``now``."""
    here = Household.moved_out_at.is_(None)
    parts = {
        "overdue": and_(here, Household.next_due_at <= now),
        "due": and_(here, Household.due_from_at <= now, Household.next_due_at > now),
        "ok": and_(here, Household.due_from_at > now),
        "moved_out": Household.moved_out_at.is_not(None),
    }
    chosen = [parts[s] for s in dict.fromkeys(statuses)]
    return or_(*chosen) if chosen else true()


def household_query(session: Session, access: Access, args: Mapping[str, Any],
                    now: datetime) -> Select[Any]:
    """The households the reader may list, filtered by community, grid, building, tag, status."""
    query = select(Household).where(household_scope(access))
    if args.get("community"):
        query = query.join(Community, Community.id == Household.community_id).where(
            Community.code == args["community"])
    if args.get("grid"):
        query = query.where(Household.grid_id == select(Grid.id).where(
            Grid.code == args["grid"]).scalar_subquery())
    if args.get("building_id") is not None:
        query = query.where(Household.building_id == args["building_id"])
    for tag in args.get("tag") or ():
        if tag in SENSITIVE_TAGS and not access.has("households.sensitive"):
            # Filtering by a hidden tag would reveal who carries it.
            raise ForbiddenError(f"A {access.role.value} may not filter by {tag}.")
        query = query.where(tag_clause(session, tag))
    if args.get("status"):
        query = query.where(status_clause(args["status"], now))
    return query


def lookup_by_phone(session: Session, access: Access, phone: str) -> list[Household]:
    """Households in my geography with this phone number (sensitive: grid workers, secretary).

    Phones are encrypted at rest; their keyed hash is what can be searched.
    """
    if not access.has("households.sensitive"):
        raise ForbiddenError(f"A {access.role.value} may not look households up by phone.")
    query = (select(Household).where(Household.phone_hash == lookup_hash(phone),
                                     household_scope(access))
             .order_by(Household.id).limit(50))
    return list(session.scalars(query))


_UPDATABLE = ("unit", "door", "code", "head_name", "phone", "id_number", "members", "notes")


def update_household(session: Session, access: Access, household: Household,
                     changes: dict[str, Any]) -> Household:
    """Apply a partial update; re-place, re-schedule and sync the yellow ribbon as needed."""
    sees = access.sees_sensitive(household.grid_id)
    if "building_id" in changes or "location" in changes:
        spot = place(session, changes.get("building_id", household.building_id),
                     changes.get("location"))
        require_household_place(access, spot.grid_id)
        if spot.community_id != household.community_id:
            raise UnprocessableError("A household cannot move to another community.",
                                     errors={"building_id": ["In another community."]})
        household.grid_id, household.lat, household.lon = spot.grid_id, spot.lat, spot.lon
        household.building_id = spot.building.id if spot.building else None
    if "code" in changes:
        _check_code_free(session, access, household.community_id, changes["code"],
                         household.id)
    for key in _UPDATABLE:
        if key in changes:
            setattr(household, key, changes[key])
    if "moved_out" in changes:
        household.moved_out_at = (household.moved_out_at or utcnow()) \
            if changes["moved_out"] else None
    if "tags" in changes:
        # A reader who cannot see the sensitive tags cannot remove them either.
        kept = [] if sees else [t for t in household.tags or [] if t in SENSITIVE_TAGS]
        household.tags = ordered_tags(set(changes["tags"]) | set(kept))
        sync_ribbon_tag(session, household, access.user, utcnow())
    apply_schedule(session, household)
    audit(session, access.user, "household_update", "household", household.id,
          fields=sorted(changes))
    session.flush()
    return household


def sync_ribbon_tag(session: Session, household: Household, user: User | None,
                    now: datetime) -> None:
    """Keep the tag and the requests agreeing: tag set ⇔ an open yellow-ribbon request."""
    open_requests = list(session.scalars(select(YellowRibbonRequest).where(
        YellowRibbonRequest.household_id == household.id,
        YellowRibbonRequest.closed_at.is_(None))))
    if household.has_tag("yellow_ribbon") and not open_requests:
        session.add(YellowRibbonRequest(household_id=household.id, raised_at=now,
                                        raised_by_id=user.id if user else None,
                                        note="tag set on the household record"))
    elif not household.has_tag("yellow_ribbon"):
        for request in open_requests:
            request.closed_at = now
    session.flush()
    apply_schedule(session, household)


def raise_yellow_ribbon(session: Session, access: Access, household: Household, note: str,
                        ) -> tuple[YellowRibbonRequest, bool]:
    """Open a yellow-ribbon request (or return the open one); the household becomes due."""
    require_household_reach(access, household)
    current = session.scalar(select(YellowRibbonRequest).where(
        YellowRibbonRequest.household_id == household.id,
        YellowRibbonRequest.closed_at.is_(None)).order_by(YellowRibbonRequest.raised_at))
    if current is not None:
        return current, False
    request = YellowRibbonRequest(household_id=household.id, raised_by_id=access.user.id,
                                  raised_at=utcnow(), note=note)
    session.add(request)
    household.tags = ordered_tags(set(household.tags or []) | {"yellow_ribbon"})
    session.flush()
    apply_schedule(session, household)
    audit(session, access.user, "yellow_ribbon_raise", "household", household.id)
    session.flush()
    return request, True


def close_ribbons(open_requests: Iterable[YellowRibbonRequest], household: Household,
                  visit_id: int, visited_at: datetime, now: datetime,
                  ) -> list[YellowRibbonRequest]:
    """Close the household's open requests raised before a visit that met the family.

    ``open_requests`` are the household's open requests, read by the caller (a sync batch
    reads them for all its households at once). Returns those still open, which is what the
    household's schedule needs next. No flush, no commit.
    """
    still_open = []
    for request in open_requests:
        if request.raised_at <= visited_at:
            request.closed_at, request.closed_by_visit_id = now, visit_id
        else:
            still_open.append(request)
    if not still_open and household.has_tag("yellow_ribbon"):
        household.tags = [t for t in household.tags if t != "yellow_ribbon"]
    return still_open
