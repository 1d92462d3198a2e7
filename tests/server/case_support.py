"""Test helpers for the case workflow: a controllable clock, reports and photos made directly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from server.extensions import db
from server.models import Category, Department, Photo, Report
from server.services import cases
from tests.factories import Actor, Factory

__all__ = ["CaseWorld", "local", "SHANGHAI"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An Asia/Shanghai wall-clock time, as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class CaseWorld:
    """Community C1 (grids G1, G2; departments WATER, URBAN), a clock and case builders."""

    def __init__(self, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
        self.factory, self.client = factory, factory.client
        factory.world()
        self.time = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
        monkeypatch.setattr(cases, "now", lambda: self.time)
        self._actors: dict[str, Actor] = {}
        self.category("garbage", 24)

    def set_time(self, when: datetime) -> None:
        """Move the workflow's clock to ``when``."""
        self.time = when

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward by ``timedelta(**delta)``."""
        self.time += timedelta(**delta)
        return self.time

    def actor(self, key: str, role: str | None = None, **kwargs: Any) -> Actor:
        """The actor named ``key`` (made on first use; role defaults to the key)."""
        if key not in self._actors:
            self._actors[key] = self.factory.actor(role or key, **kwargs)
        return self._actors[key]

    def category(self, code: str, sla_hours: int) -> Category:
        """A category with a handling deadline (made if missing)."""
        found = db.session.get(Category, code)
        if found is None:
            found = Category(code=code, name_zh=code, name_en=code, sla_hours=sla_hours)
            db.session.add(found)
            db.session.commit()
        return found

    def department(self, code: str, **changes: Any) -> Department:
        """The department ``code``, with ``changes`` applied."""
        dept = db.session.scalar(select(Department).where(Department.code == code))
        assert dept is not None
        for key, value in changes.items():
            setattr(dept, key, value)
        db.session.commit()
        return dept

    def report(self, *, grid: str = "G1", category: str = "garbage",
               created_at: datetime | None = None, reporter: Actor | None = None) -> Report:
        """A report made directly in the database (the reports API is not under test here)."""
        reporter = reporter or self.actor("grid_worker", grids=(grid,))
        lat, lon = self.factory.G1_CENTER if grid == "G1" else self.factory.G2_CENTER
        grid_row = self.factory.grid(grid)
        when = created_at or self.time
        report = Report(client_uuid=str(uuid.uuid4()), body_sha256="0" * 64,
                        reporter_id=reporter.id, community_id=grid_row.community_id,
                        grid_id=grid_row.id, category_code=category, description="北渠附近垃圾",
                        lat=lat, lon=lon, captured_at=when, created_at=when, flags=[])
        db.session.add(report)
        db.session.commit()
        return report

    def photo(self, owner: Actor) -> str:
        """A photo row (the bytes are not needed by the workflow); its id."""
        photo_id = str(uuid.uuid4())
        db.session.add(Photo(id=photo_id, sha256="f" * 64, size_bytes=1000, format="jpeg",
                             mime="image/jpeg", width=640, height=480, uploaded_by_id=owner.id))
        db.session.commit()
        return photo_id

    def move(self, actor: Actor, report_id: int, action: str, **body: Any) -> TestResponse:
        """POST a move on a case as ``actor``."""
        client: FlaskClient = self.client
        return client.post(f"/api/v1/reports/{report_id}/transitions", headers=actor.headers,
                           json={"action": action, **body})

    def site(self, grid: str = "G1") -> dict[str, float]:
        """A point on site (the report's point) for verify."""
        lat, lon = self.factory.G1_CENTER if grid == "G1" else self.factory.G2_CENTER
        return {"lat": lat, "lon": lon, "accuracy_m": 10}

    def walk(self, report_id: int, until: str, *, dept: str = "WATER",
             step_minutes: float = 30) -> None:
        """Move a case along the happy path, from where it is, until it reaches ``until``."""
        path = ["reported", "accepted", "dispatched", "handled", "verified", "closed"]
        report = db.session.get(Report, report_id)
        assert report is not None
        db.session.refresh(report)
        grid = report.grid.code if report.grid else "G1"
        dispatcher = self.actor("dispatcher")
        supervisor = (self.actor("supervisor") if grid == "G1"
                      else self.actor(f"supervisor_{grid}", "supervisor", grids=(grid,)))
        worker = self.actor(f"dept_{dept}", "department", department=dept)
        bodies: dict[str, tuple[Actor, dict[str, Any]]] = {
            "accepted": (dispatcher, {"action": "accept"}),
            "dispatched": (dispatcher, {"action": "dispatch", "department": dept}),
            "handled": (worker, {"action": "handle", "photo_ids": [self.photo(worker)]}),
            "verified": (supervisor, {"action": "verify", "location": self.site(grid)}),
            "closed": (dispatcher, {"action": "close"}),
        }
        for status in path[path.index(report.status) + 1:path.index(until) + 1]:
            self.advance(minutes=step_minutes)
            actor, body = bodies[status]
            answer = self.move(actor, report_id, **body)
            assert answer.status_code == 201, answer.get_json()
