"""The small world the authorization proof runs in, and the machinery that runs its table.

One community C1 with grids G1 and G2; an actor of every role (and a grid worker of the
neighbouring grid G2); in G1 a household with a phone and an ID number, a visit to it, a
patrol track of the G1 worker, a photo uploaded by the G1 worker, a report using that photo
which the command centre has accepted and dispatched to WATER, and an unfinished tus
upload by the G1 worker. Writes
that change state get fresh records per cell (``fresh_*``), so every cell is independent.
"""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from schemas.visits import VisitCreateSchema
from server.extensions import db, limiter
from server.models import Category, Photo, Report, User
from server.models.types import utcnow
from server.services import cases, uploads, visits
from server.services.access import access_for
from server.services.auth import issue_token
from server.services.categories import ensure_default_categories
from tests.factories import Actor, Factory
from tests.server.storage.imagegen import make_jpeg
from tests.server.visit_support import add_household, id_number

__all__ = ["ACTORS", "ANONYMOUS", "PHONE", "ID_NUMBER", "OWN_PHONE", "SENSITIVE_TAG",
           "SENSITIVE_TAG_ZH", "Who", "Call", "Case", "Answer", "World", "empty_tables",
           "media_files", "remove_files_since", "outcome_of", "OK", "OUT"]

# The columns of the table, in order. "worker" works G1, "worker_g2" the neighbouring G2,
# "building_head" heads the G1 building BG1.
ACTORS = ("admin", "secretary", "dispatcher", "department", "supervisor", "worker",
          "worker_g2", "building_head", "anonymous")
ANONYMOUS = "anonymous"
_ROLES = {"admin": ("admin", ()), "secretary": ("secretary", ()),
          "dispatcher": ("dispatcher", ()), "department": ("department", ()),
          "supervisor": ("supervisor", ("G1",)), "worker": ("grid_worker", ("G1",)),
          "worker_g2": ("grid_worker", ("G2",)), "building_head": ("building_head", ("G1",))}

# The G1 household's numbers: the proof scans every answer for them.
PHONE = "13812345678"
ID_NUMBER = id_number(731, born="19500607")
# A sensitive tag (issue 4.7: hidden with the numbers), in its API and spreadsheet spellings.
SENSITIVE_TAG = "low_income"
SENSITIVE_TAG_ZH = "低保"
# Numbers an actor sends in a body it writes itself (so an echo of them is no leak).
OWN_PHONE = "13900002222"

OK = "ok"    # 2xx; for a list, the G1 record is in it
OUT = "out"  # 2xx, but the G1 record is not in the answer (a list scoped to other grids)
OUTCOMES = (OK, OUT, "401", "403", "404")


@dataclass(frozen=True)
class Who:
    """One column of the table: an actor (or nobody) with the headers it sends."""

    name: str
    user_id: int | None
    headers: Mapping[str, str]

    @property
    def anonymous(self) -> bool:
        """Whether this is the caller without a token."""
        return self.user_id is None


@dataclass
class Call:
    """One HTTP request, as the test client takes it."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] | None = None
    json: Any = None
    data: Any = None
    content_type: str | None = None


Builder = Callable[["World", Who], Call]
Probe = Callable[["World", Any], bool]


@dataclass(frozen=True)
class Case:
    """A request builder aimed at the G1 resource and the outcome each actor must get.

    ``expect`` is nine outcomes in ``ACTORS`` order (``ok out 401 403 404``). ``probe``
    tells, for a list, whether the G1 record is in a 2xx answer (``ok``) or not (``out``).
    ``inner`` gives the status that decides (a sync batch answers 200 with a status per
    record). ``gaps`` names cells where the code is known to disagree with the issues.
    """

    build: Builder
    expect: str
    probe: Probe | None = None
    inner: Callable[[Any], int] | None = None
    name: str = ""
    gaps: Mapping[str, str] = field(default_factory=dict)

    def expected(self) -> dict[str, str]:
        """The expected outcome per actor."""
        cells = self.expect.split()
        assert len(cells) == len(ACTORS), self.expect
        assert set(cells) <= set(OUTCOMES), self.expect
        return dict(zip(ACTORS, cells, strict=True))


@dataclass(frozen=True)
class Answer:
    """What one cell got back."""

    status: int
    outcome: str
    body: bytes
    detail: str


def outcome_of(world: World, case: Case, status: int, payload: Any) -> tuple[int, str]:
    """The deciding status and the outcome it means for ``case``."""
    if case.inner is not None and status == 200:
        status = case.inner(payload)
    if not 200 <= status < 300:
        return status, str(status)
    if case.probe is None:
        return status, OK
    return status, OK if case.probe(world, payload) else OUT


def media_files(app: Flask) -> set[Path]:
    """Every file under the photo folder now."""
    return {p for p in Path(app.config["MEDIA_DIR"]).rglob("*") if p.is_file()}


def remove_files_since(app: Flask, before: set[Path]) -> None:
    """Delete the photo files made since ``before`` (other tests count the folder's photos)."""
    for path in media_files(app) - before:
        path.unlink(missing_ok=True)


def empty_tables(app: Flask) -> None:
    """Delete every row (as tests/conftest.py does between tests)."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
    limiter.reset()


class World:
    """The records every cell aims at, the actors, and fresh records for writes."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.client: FlaskClient = factory.client
        self._serial = itertools.count(1)
        self.community = factory.world()
        ensure_default_categories(db.session)
        db.session.add(Category(code="authz", name_zh="授权", name_en="Authz", sla_hours=24))
        db.session.commit()
        self.g1 = factory.grid("G1").id
        self.bg1 = factory.building("G1").id
        self.actors: dict[str, Actor] = {
            name: factory.actor(role, grids=grids or ("G1",), username=f"authz_{name}")
            for name, (role, grids) in _ROLES.items()}
        self.user_ids = {name: actor.id for name, actor in self.actors.items()}
        self.household = add_household(factory, "G1", door="101", phone=PHONE,
                                       id_no=ID_NUMBER, tags=(SENSITIVE_TAG,)).id
        self._build_g1_records()

    # -- the shared G1 records ------------------------------------------------------------

    def _ok(self, response: Any) -> Any:
        assert 200 <= response.status_code < 300, (response.status_code, response.get_data())
        return response

    def _build_g1_records(self) -> None:
        worker = self.actors["worker"].headers
        self.photo = self._ok(self.client.post(
            "/api/v1/photos", headers=worker, content_type="multipart/form-data",
            data={"file": (io.BytesIO(self.jpeg()), "g1.jpg")})).get_json()["id"]
        self.report = self._ok(self.client.post(
            "/api/v1/reports", headers=worker, json=self.report_body([self.photo]),
        )).get_json()["id"]
        dispatcher = self.actors["dispatcher"].headers
        for move in ({"action": "accept"}, {"action": "dispatch", "department": "WATER"}):
            self._ok(self.client.post(f"/api/v1/reports/{self.report}/transitions",
                                      headers=dispatcher, json=move))
        self.visit = self._ok(self.client.post(
            "/api/v1/visits", headers=worker, json=self.visit_body(self.household),
        )).get_json()["id"]
        track = self._ok(self.client.post(
            "/api/v1/tracks", headers=worker, json=self.track_body())).get_json()
        self.track = track["id"]
        self.track_day = datetime.fromisoformat(track["started_at"]).astimezone(
            ZoneInfo("Asia/Shanghai")).date().isoformat()  # the Beijing day it counts on
        self.upload = self._ok(self.client.post(
            "/api/v1/uploads/", headers={**worker, **self.tus(), "Upload-Length": "1000"},
        )).headers["Location"].rsplit("/", 1)[1]

    # -- columns --------------------------------------------------------------------------

    def who(self, name: str) -> Who:
        """The column ``name``: an actor with its token, or the anonymous caller."""
        if name == ANONYMOUS:
            return Who(name, None, {})
        actor = self.actors[name]
        return Who(name, actor.id, actor.headers)

    def user(self, who: Who) -> User:
        """The user behind ``who`` (the G1 worker stands in for the anonymous caller)."""
        user = db.session.get(User, who.user_id or self.user_ids["worker"])
        assert user is not None
        return user

    def login(self, who: Who) -> dict[str, str]:
        """Headers with a fresh token of ``who`` (for a cell that revokes its token)."""
        if who.anonymous:
            return {}
        token, _ = issue_token(db.session, self.user(who), ttl_hours=1)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    # -- bodies ---------------------------------------------------------------------------

    def serial(self) -> int:
        """A number no other cell has used."""
        return next(self._serial)

    @staticmethod
    def tus() -> dict[str, str]:
        """The tus version header."""
        return {"Tus-Resumable": "1.0.0"}

    @staticmethod
    def jpeg() -> bytes:
        """A small valid JPEG."""
        return make_jpeg(64, 48)

    @staticmethod
    def site() -> dict[str, float]:
        """The G1 point every record stands on (the BG1 building), WGS-84."""
        lat, lon = Factory.G1_CENTER
        return {"lat": lat, "lon": lon, "accuracy_m": 10.0}

    def report_body(self, photo_ids: list[str]) -> dict[str, Any]:
        """A valid POST /reports body in G1."""
        return {"client_uuid": str(uuid.uuid4()), "category": "garbage",
                "description": "北渠附近垃圾", "location": self.site(),
                "captured_at": (utcnow() - timedelta(minutes=5)).isoformat(),
                "photo_ids": photo_ids}

    def visit_body(self, household_id: int) -> dict[str, Any]:
        """A valid POST /visits body: at the door an hour ago, nobody home, one need."""
        return {"client_uuid": str(uuid.uuid4()), "household_id": household_id,
                "visited_at": (utcnow() - timedelta(hours=1)).isoformat(),
                "location": self.site(), "outcome": "not_home",
                "needs": [{"category": "garbage", "text": "楼道堆放杂物"}]}

    def track_body(self) -> dict[str, Any]:
        """A valid POST /tracks body: ten minutes of patrol around the G1 site, just ended."""
        lat, lon = Factory.G1_CENTER
        start = utcnow() - timedelta(minutes=15)
        return {"client_uuid": str(uuid.uuid4()), "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=10)).isoformat(),
                "points": [[lat + i * 0.0002, lon, 8.0,
                            (start + timedelta(minutes=i)).isoformat()] for i in range(10)]}

    # -- fresh records, one per cell ------------------------------------------------------

    def fresh_household(self) -> int:
        """A new G1 household in BG1 (not yet due, so it stays off every agenda)."""
        return add_household(self.factory, "G1", door=str(1000 + self.serial()), phone=PHONE,
                             id_no=ID_NUMBER, tags=(SENSITIVE_TAG,), created_at=utcnow()).id

    def own_photo(self, who: Who) -> str:
        """A photo row uploaded by ``who`` (the workflow and reports need no bytes)."""
        photo_id = str(uuid.uuid4())
        db.session.add(Photo(id=photo_id, sha256="ab" * 32, size_bytes=1000, format="jpeg",
                             mime="image/jpeg", width=64, height=48,
                             uploaded_by_id=self.user(who).id))
        db.session.commit()
        return photo_id

    def fresh_visit(self) -> int:
        """A visit by the G1 worker to a fresh G1 household, with one need."""
        access = access_for(db.session, db.session.get(User, self.user_ids["worker"]))
        body = VisitCreateSchema().load(self.visit_body(self.fresh_household()))
        visit, _ = visits.create_visit(db.session, access, body)
        db.session.commit()
        return visit.id

    def fresh_user(self) -> int:
        """A new G1 grid worker with a live token, for a cell that disables or resets it."""
        return self.factory.actor("grid_worker", grids=("G1",),
                                  username=f"authz_target_{self.serial()}").id

    def fresh_upload(self) -> str:
        """An unfinished 10-byte tus upload of the G1 worker."""
        user = db.session.get(User, self.user_ids["worker"])
        upload_id = uploads.create_upload(db.session, user, 10, {}).id
        db.session.commit()
        return upload_id

    def fresh_case(self, status: str) -> int:
        """A G1 case by the G1 worker, moved along the workflow until it is ``status``."""
        grid = self.factory.grid("G1")
        lat, lon = Factory.G1_CENTER
        now = utcnow()
        report = Report(client_uuid=str(uuid.uuid4()), body_sha256="0" * 64,
                        reporter_id=self.user_ids["worker"], community_id=grid.community_id,
                        grid_id=grid.id, category_code="garbage", description="北渠附近垃圾",
                        lat=lat, lon=lon, captured_at=now, created_at=now, flags=[])
        db.session.add(report)
        db.session.commit()
        path = ("reported", "accepted", "dispatched", "handled", "verified")
        moves = {
            "accepted": ("dispatcher", {"action": "accept"}),
            "dispatched": ("dispatcher", {"action": "dispatch", "department": "WATER"}),
            "handled": ("department", {"action": "handle"}),
            "verified": ("supervisor", {"action": "verify", "location": self.site()}),
        }
        for step in path[1:path.index(status) + 1]:
            name, body = moves[step]
            if step == "handled":
                body = {**body, "photo_ids": [self.own_photo(self.who(name))]}
            access = access_for(db.session, db.session.get(User, self.user_ids[name]))
            cases.transition(db.session, access, report.id, body)
            db.session.commit()
        return report.id
