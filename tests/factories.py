"""Test data builders: a community with grids, buildings and users of every role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server.extensions import db
from server.models import Building, Community, Department, Grid, User
from server.services.auth import create_user, issue_token
from server.services.grids import import_grids

__all__ = ["Factory", "Actor", "square", "PASSWORD"]

PASSWORD = "correct horse battery"


def square(code: str, name: str, west: float, south: float, east: float,
           north: float) -> dict[str, Any]:
    """A GeoJSON feature for a rectangular grid."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Feature", "properties": {"code": code, "name": name},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


@dataclass
class Actor:
    """A user with a live token and ready-made headers."""

    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> int:
        """The user's id."""
        return self.user.id


class Factory:
    """Builds a small world: community C1 with grids G1 and G2 side by side near 友谊河."""

    # G1: 28.800-28.804 N, 113.070-113.078 E; G2 east of it to 113.086 E.
    G1_CENTER = (28.802, 113.074)
    G2_CENTER = (28.802, 113.082)

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app, self.client = app, client
        self._counter = 0

    def world(self) -> Community:
        """Community C1 with grids G1, G2, a building in each, departments WATER and URBAN."""
        existing = db.session.scalar(select(Community).where(Community.code == "C1"))
        if existing is not None:
            return existing
        community = Community(code="C1", name="测试社区")
        db.session.add(community)
        db.session.add_all([Department(code="WATER", name="水务局"),
                            Department(code="URBAN", name="城管局")])
        db.session.commit()
        import_grids(db.session, "C1", {"type": "FeatureCollection", "features": [
            square("G1", "一网格", 113.070, 28.800, 113.078, 28.804),
            square("G2", "二网格", 113.078, 28.800, 113.086, 28.804),
        ]})
        for code, (lat, lon) in (("G1", self.G1_CENTER), ("G2", self.G2_CENTER)):
            grid = self.grid(code)
            db.session.add(Building(community_id=community.id, grid_id=grid.id,
                                    code=f"B{code}", name=f"{code}楼", lat=lat, lon=lon))
        db.session.commit()
        return community

    def grid(self, code: str) -> Grid:
        """The grid with ``code``."""
        grid = db.session.scalar(select(Grid).where(Grid.code == code))
        assert grid is not None, code
        return grid

    def building(self, grid_code: str) -> Building:
        """The building of grid ``grid_code``."""
        building = db.session.scalar(select(Building).where(Building.code == f"B{grid_code}"))
        assert building is not None
        return building

    def actor(self, role: str, *, grids: tuple[str, ...] = ("G1",), username: str | None = None,
              department: str = "WATER") -> Actor:
        """A user of ``role`` (with grids/community/department as the role needs) and a token."""
        self.world()
        self._counter += 1
        geo: dict[str, Any] = {}
        if role in ("grid_worker", "supervisor"):
            geo["grid_codes"] = grids
        elif role == "secretary":
            geo["community_code"] = "C1"
        elif role == "department":
            geo["department_code"] = department
        elif role == "building_head":
            geo["building_ids"] = tuple(self.building(g).id for g in grids)
        user = create_user(db.session, username or f"{role}{self._counter}", PASSWORD, role,
                           **geo)
        token, _ = issue_token(db.session, user, ttl_hours=1)
        db.session.commit()  # the test is the boundary: a live server sees the user
        return Actor(user=user, token=token)
