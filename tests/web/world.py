"""The data the browser tests look at, made through the JSON API as the phones would make it.

Community C1: grid G1 (worker ``wangge1``) with 8 households, grid G2 (``wangge2``) with 6.
Visits: today, two days ago, twenty days ago; one off site (400 m from the door), one not at
home; photos on a visit and on a case; the visit two days ago records two needs (诉求);
wangge1's patrol today, two tracks past the households visited today. Cases:
one handled with an after-photo, one overdue. ``add_flagged_reports`` adds reports that carry
every flag the server sets.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import select

from server.extensions import db
from server.models import Report
from server.models.types import utcnow
from server.services.categories import ensure_default_categories
from tests.factories import PASSWORD, Actor, Factory
from tests.server.storage.imagegen import make_jpeg
from tests.server.visit_support import point_at

__all__ = ["WebWorld", "build_world", "add_flagged_reports", "PASSWORD", "LOCAL"]

LOCAL = ZoneInfo("Asia/Shanghai")
# Household points inside each grid (G1: 28.800-28.804 N, 113.070-113.078 E; G2 east of it).
_G1_POINTS = [(28.8010 + 0.0007 * (i // 4), 113.0715 + 0.0016 * (i % 4)) for i in range(8)]
_G2_POINTS = [(28.8010 + 0.0007 * (i // 3), 113.0800 + 0.0020 * (i % 3)) for i in range(6)]


@dataclass
class WebWorld:
    """Who logs in, and the ids of what they should see."""

    secretary: Actor
    worker1: Actor
    worker2: Actor
    dispatcher: Actor
    department: Actor
    g1_households: list[int] = field(default_factory=list)
    g2_households: list[int] = field(default_factory=list)
    visit_photo: str = ""
    handled_case: int = 0
    overdue_case: int = 0
    today: str = ""  # the local day of today's visits (YYYY-MM-DD)
    track_length_m: float = 0.0  # wangge1's patrol today (two tracks), and its time
    track_seconds: float = 0.0

    password: str = PASSWORD


def _ok(response: Any, expected: int = 201) -> Any:
    assert response.status_code == expected, response.get_data(as_text=True)
    return response.get_json()


def _photo(client: FlaskClient, actor: Actor, lat: float, lon: float, shade: int,
           age: timedelta = timedelta(0)) -> str:
    data = make_jpeg(320, 240, texture=shade / 10, gps=(lat, lon),
                     taken_at=(datetime.now(LOCAL) - age).replace(tzinfo=None))
    body = _ok(client.post("/api/v1/photos", headers=actor.headers,
                           data={"file": (io.BytesIO(data), f"p{shade}.jpg", "image/jpeg"),
                                 "client_uuid": str(uuid.uuid4())},
                           content_type="multipart/form-data"))
    return str(body["id"])


def _household(client: FlaskClient, actor: Actor, point: tuple[float, float], door: str,
               tags: list[str]) -> int:
    body = {"client_uuid": str(uuid.uuid4()), "unit": "1", "door": door,
            "head_name": f"户主{door}", "phone": "13812345678", "members": 2, "tags": tags,
            "location": {"lat": point[0], "lon": point[1], "accuracy_m": 5}}
    return int(_ok(client.post("/api/v1/households", json=body, headers=actor.headers))["id"])


def _visit(client: FlaskClient, actor: Actor, household: int, point: tuple[float, float],
           when: datetime, outcome: str = "met", photos: list[str] | None = None,
           needs: list[dict[str, Any]] | None = None) -> int:
    body = {"client_uuid": str(uuid.uuid4()), "household_id": household,
            "visited_at": when.isoformat(), "outcome": outcome, "notes": "走访记录",
            "location": {"lat": point[0], "lon": point[1], "accuracy_m": 8},
            "photo_ids": photos or [], "needs": needs or []}
    return int(_ok(client.post("/api/v1/visits", json=body, headers=actor.headers))["id"])


_NOTES = {"accept": "符合立案条件", "dispatch": "请水务局处置", "handle": "已清理完毕"}


def _move(client: FlaskClient, actor: Actor, report: int, action: str, **extra: Any) -> None:
    _ok(client.post(f"/api/v1/reports/{report}/transitions", headers=actor.headers,
                    json={"action": action, "note": _NOTES[action], **extra}))


def _report(client: FlaskClient, actor: Actor, point: tuple[float, float], photo: str,
            text: str) -> int:
    body = {"client_uuid": str(uuid.uuid4()), "category": "garbage", "description": text,
            "location": {"lat": point[0], "lon": point[1], "accuracy_m": 6},
            "captured_at": utcnow().isoformat(), "photo_ids": [photo]}
    return int(_ok(client.post("/api/v1/reports", json=body, headers=actor.headers))["id"])


def _today_times(now: datetime, count: int) -> list[datetime]:
    """``count`` moments of the local day so far, in order (all before now)."""
    start = datetime.combine(now.astimezone(LOCAL).date(), time.min, tzinfo=LOCAL)
    step = (now - start) / (count + 1)
    return [(start + step * (i + 1)).astimezone(UTC) for i in range(count)]


def _visits(client: FlaskClient, world: WebWorld, now: datetime) -> None:
    w1, w2, g1, g2 = world.worker1, world.worker2, world.g1_households, world.g2_households
    morning = _today_times(now, 3)
    _visit(client, w1, g1[0], _G1_POINTS[0], morning[0])
    _visit(client, w1, g1[3], _G1_POINTS[3], morning[1], outcome="not_home")
    far = point_at(_G1_POINTS[4], 400, bearing=0)
    _visit(client, w1, g1[4], far, morning[2])  # off site: 400 m north of the door
    _visit(client, w1, g1[1], _G1_POINTS[1], now - timedelta(days=2),
           photos=[world.visit_photo], needs=[{"category": "welfare", "text": "申请低保"},
                                              {"category": "drain", "text": "楼道下水道堵塞"}])
    _visit(client, w1, g1[2], _G1_POINTS[2], now - timedelta(days=20))
    _visit(client, w2, g2[0], _G2_POINTS[0], morning[1])
    _visit(client, w2, g2[1], _G2_POINTS[1], now - timedelta(days=10))


def _track(client: FlaskClient, actor: Actor, path: list[tuple[float, float]],
           start: datetime, end: datetime) -> dict[str, Any]:
    """A patrol track along ``path``, its positions spread evenly over ``start``..``end``."""
    step = (end - start) / (len(path) - 1)
    body = {"client_uuid": str(uuid.uuid4()), "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
            "points": [[lat, lon, 6.0, min(start + step * i, end).isoformat()]
                       for i, (lat, lon) in enumerate(path)]}
    return dict(_ok(client.post("/api/v1/tracks", json=body, headers=actor.headers)))


def _tracks(client: FlaskClient, world: WebWorld, now: datetime) -> None:
    """wangge1's patrol today in two segments, past the three households visited today."""
    morning = _today_times(now, 3)
    far = point_at(_G1_POINTS[4], 400, bearing=0)
    first = _track(client, world.worker1, [_G1_POINTS[0], _G1_POINTS[1], _G1_POINTS[2],
                                           _G1_POINTS[3]], morning[0], morning[1])
    # The second starts the instant the first ended, from the phone's next fix (as the
    # field app sends them): the leg between counts, and the map draws no gap.
    second = _track(client, world.worker1, [_G1_POINTS[7], _G1_POINTS[4], far],
                    morning[1], morning[2])
    world.track_length_m = first["length_m"] + second["length_m"]
    world.track_seconds = (morning[2] - morning[0]).total_seconds()


def _cases(client: FlaskClient, world: WebWorld) -> None:
    before = _photo(client, world.worker1, *_G1_POINTS[5], shade=3)
    case = _report(client, world.worker1, _G1_POINTS[5], before, "北渠边垃圾堆放")
    _move(client, world.dispatcher, case, "accept")
    _move(client, world.dispatcher, case, "dispatch", department="WATER")
    after = _photo(client, world.department, *_G1_POINTS[5], shade=7)
    _move(client, world.department, case, "handle", photo_ids=[after])
    world.handled_case = case
    photo = _photo(client, world.worker2, *_G2_POINTS[4], shade=5)
    late = _report(client, world.worker2, _G2_POINTS[4], photo, "路边垃圾未清运")
    _move(client, world.dispatcher, late, "accept")
    _move(client, world.dispatcher, late, "dispatch", department="WATER")
    report = db.session.scalar(select(Report).where(Report.id == late))
    assert report is not None
    report.deadline_at = utcnow() - timedelta(hours=5)  # five hours past its deadline
    db.session.commit()
    world.overdue_case = late


def add_flagged_reports(client: FlaskClient, world: WebWorld) -> tuple[int, int]:
    """Two more reports by ``wangge1``; returns their ids (doubtful, stray).

    The doubtful one lies beside the handled case, its photo taken 300 m away three days
    before (location_mismatch, stale_photo, possible_duplicate); the stray one lies outside
    every grid (outside_grid).
    """
    far = point_at(_G1_POINTS[5], 300, bearing=180)
    photo = _photo(client, world.worker1, *far, shade=2, age=timedelta(days=3))
    doubtful = _report(client, world.worker1, _G1_POINTS[5], photo, "又见垃圾堆放")
    outside = (28.7900, 113.0600)  # south-west of G1, in no grid
    photo = _photo(client, world.worker1, *outside, shade=4)
    stray = _report(client, world.worker1, outside, photo, "网格外的垃圾")
    return doubtful, stray


def build_world(client: FlaskClient, factory: Factory) -> WebWorld:
    """Make the browser tests' community through the API and return who and what."""
    factory.world()
    ensure_default_categories(db.session)
    db.session.commit()
    world = WebWorld(
        secretary=factory.actor("secretary", username="shuji"),
        worker1=factory.actor("grid_worker", grids=("G1",), username="wangge1"),
        worker2=factory.actor("grid_worker", grids=("G2",), username="wangge2"),
        dispatcher=factory.actor("dispatcher", username="zhihui"),
        department=factory.actor("department", department="WATER", username="shuiwu"))
    names = ((world.secretary, "李书记"), (world.worker1, "周网格员"), (world.worker2, "吴网格员"),
             (world.dispatcher, "王值班长"), (world.department, "水务局张工"))
    for actor, name in names:
        actor.user.display_name = name
    db.session.commit()
    tags = {0: ["elderly_alone"], 1: ["yellow_ribbon"], 2: ["disabled"]}
    world.g1_households = [_household(client, world.worker1, p, f"{101 + i}", tags.get(i, []))
                           for i, p in enumerate(_G1_POINTS)]
    world.g2_households = [_household(client, world.worker2, p, f"{201 + i}",
                                      ["elderly_alone"] if i == 0 else [])
                           for i, p in enumerate(_G2_POINTS)]
    now = utcnow()
    world.today = now.astimezone(LOCAL).date().isoformat()
    world.visit_photo = _photo(client, world.worker1, *_G1_POINTS[1], shade=1)
    _visits(client, world, now)
    _tracks(client, world, now)
    _cases(client, world)
    return world
