"""Test helpers for households and visits: rows made directly, request bodies, ID numbers."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from geopy.distance import geodesic

from server.extensions import db
from server.models import Household, Photo
from server.models.types import utcnow
from server.services.visit_policy import apply_schedule
from tests.factories import Actor, Factory

__all__ = ["add_household", "visit_body", "id_number", "point_at", "add_photo", "new_uuid"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def new_uuid() -> str:
    """A fresh client UUID."""
    return str(uuid.uuid4())


def id_number(serial: int, born: str = "19450101", region: str = "430681") -> str:
    """A resident ID number with a correct check digit (汨罗市 by default)."""
    body = f"{region}{born}{serial % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def point_at(origin: tuple[float, float], metres: float,
             bearing: float = 90.0) -> tuple[float, float]:
    """The WGS-84 point ``metres`` from ``origin`` on ``bearing`` (degrees from north)."""
    dest = geodesic(meters=metres).destination(origin, bearing)
    return dest.latitude, dest.longitude


def add_household(factory: Factory, grid: str = "G1", *, door: str = "101", unit: str = "1",
                  tags: tuple[str, ...] = (), phone: str | None = "13812345678",
                  id_no: str | None = None, last_met_at: datetime | None = None,
                  created_at: datetime | None = None, point: tuple[float, float] | None = None,
                  code: str | None = None, client_uuid: str | None = None) -> Household:
    """A household in ``grid``'s building (or at ``point``), scheduled like the service does."""
    factory.world()
    building = factory.building(grid)
    created = created_at or utcnow() - timedelta(days=400)
    lat, lon = point or (building.lat, building.lon)
    household = Household(
        community_id=building.community_id, grid_id=building.grid_id, building_id=building.id,
        unit=unit, door=door, code=code or f"{building.code}-{unit}-{door}",
        head_name=f"户主{door}", phone=phone, id_number=id_no or id_number(int(door) % 997),
        members=2, lat=lat, lon=lon, tags=list(tags), notes="住户备注", client_uuid=client_uuid,
        last_met_at=last_met_at, last_visit_at=last_met_at, created_at=created,
        updated_at=created)
    apply_schedule(db.session, household, ribbon_raised_at=None)
    db.session.add(household)
    db.session.commit()
    return household


def add_photo(actor: Actor, photo_id: str | None = None) -> Photo:
    """A photo row uploaded by ``actor`` (no file: visits only reference photos)."""
    photo = Photo(id=photo_id or new_uuid(), sha256="ab" * 32, size_bytes=1000, format="jpeg",
                  mime="image/jpeg", width=100, height=100, uploaded_by_id=actor.id)
    db.session.add(photo)
    db.session.commit()
    return photo


def visit_body(household: Household | None = None, *, at: tuple[float, float] | None = None,
               visited_at: datetime | None = None, outcome: str = "met",
               **extra: Any) -> dict[str, Any]:
    """A POST /visits body for ``household``, at its door an hour ago unless told otherwise."""
    body: dict[str, Any] = {"client_uuid": new_uuid(),
                            "visited_at": (visited_at or utcnow() - timedelta(hours=1))
                            .isoformat(), "outcome": outcome}
    if household is not None:
        body["household_id"] = household.id
        lat, lon = at or (household.lat, household.lon)
    else:
        lat, lon = at or Factory.G1_CENTER
    body["location"] = {"lat": lat, "lon": lon, "accuracy_m": 10.0}
    body.update(extra)
    return body
