"""Demo cases for the workflow: the worked example of the city's records (seed 004) replayed
at its real times, and eight weeks of history.

It runs after ``server.demo.reports`` (``server.demo._demo_extensions`` lists the order)
and moves a few of its fresh reports along; everything else it needs (categories,
department users, its own reports) it makes itself, so it also works alone. Every move goes
through the workflow service with the time it happened, so the timelines, the figures and
the weekly reports are those of real walks through the state machine. Idempotent: each
report has a fixed client UUID and is skipped when it exists.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Category, Community, Department, Grid, Photo, Report, User, user_grids
from server.services import cases
from server.services.access import access_for
from server.services.auth import create_user
from server.services.categories import ensure_default_categories
from server.services.escalation import escalate_overdue

__all__ = ["seed", "SEED_004_TIMES", "DEPARTMENT_OF"]

_NS = uuid.UUID("0c6a1f4e-2b7d-4e59-8d0a-4f004f004004")
LOCAL = ZoneInfo("Asia/Shanghai")
# 9月29日 in seed 004: (action, local hour, minute); the close time is not given: 14:25.
SEED_004_TIMES = (("report", 6, 37), ("accept", 8, 33), ("dispatch", 8, 33),
                  ("handle", 11, 48), ("verify", 14, 10), ("close", 14, 25))
# Which department a category goes to (派单), and how fast each one works (share of its SLA).
DEPARTMENT_OF = {"garbage": "URBAN", "illegal_parking": "TRAFFIC", "street_vendor": "URBAN",
                 "illegal_construction": "HOUSING", "safety_hazard": "STREET",
                 "road_damage": "HOUSING", "street_light": "POWER", "drain": "WATER",
                 "dispute": "STREET", "other": "URBAN"}
_PACE = {"WATER": 0.45, "URBAN": 0.6, "TRAFFIC": 0.35, "HOUSING": 0.8, "POWER": 0.95,
         "STREET": 0.7, "MARKET": 0.6, "CIVIL": 0.7}
_DEPT_USERS = {"WATER": "shuiwu", "URBAN": "chengguan", "HOUSING": "zhujian",
               "TRAFFIC": "jiaojing", "POWER": "gongdian", "STREET": "zongzhi"}
_NOTES = {"garbage": "路边垃圾堆积", "illegal_parking": "车辆占用人行道",
          "street_vendor": "流动摊贩占道经营", "illegal_construction": "违规搭建",
          "safety_hazard": "楼道堆放杂物", "road_damage": "路面坑洼", "street_light": "路灯不亮",
          "drain": "下水道堵塞", "dispute": "邻里纠纷", "other": "其他问题"}
HISTORY_CASES = 120
HISTORY_DAYS = 56


def _photo(session: Session, owner: User, key: str) -> str:
    """A small after-photo (处置后) made once per key; its id."""
    from server.services.photos import accept_photo, photo_store

    photo_id = str(uuid.uuid5(_NS, f"photo:{key}"))
    if session.get(Photo, photo_id) is None:
        img = Image.new("RGB", (640, 480), (160, 190, 160))
        ImageDraw.Draw(img).text((20, 20), f"Gridwork demo: after ({key})", fill=(0, 0, 0))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        data = buf.getvalue()
        tmp = photo_store().tmp_dir / f"demo-{photo_id}.jpg"
        tmp.write_bytes(data)
        accept_photo(session, owner, tmp, hashlib.sha256(data).hexdigest(),
                     client_uuid=photo_id, filename=f"after-{key}.jpg")
    return photo_id


def _user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username, User.active.is_(True)))


def _department_users(session: Session) -> dict[str, User]:
    """One handler per demo department (made with the demo password when missing)."""
    from server.demo import DEMO_PASSWORD

    found = {}
    for code, username in _DEPT_USERS.items():
        if session.scalar(select(Department.id).where(Department.code == code)) is None:
            continue
        user = _user(session, username)
        if user is None:
            user = create_user(session, username, DEMO_PASSWORD, "department",
                               display_name=f"{code} 处置员", department_code=code)
        found[code] = user
    return found


def _worker(session: Session, grid: Grid) -> User | None:
    return session.scalar(select(User).join(user_grids, user_grids.c.user_id == User.id).where(
        user_grids.c.grid_id == grid.id, User.role == "grid_worker").order_by(User.id).limit(1))


def _new_report(session: Session, key: str, grid: Grid, reporter: User, category: str,
                point: tuple[float, float], created: datetime, text: str) -> Report | None:
    client_uuid = str(uuid.uuid5(_NS, f"report:{key}"))
    if session.scalar(select(Report.id).where(Report.client_uuid == client_uuid)) is not None:
        return None
    report = Report(client_uuid=client_uuid, body_sha256=hashlib.sha256(key.encode()).hexdigest(),
                    reporter_id=reporter.id, community_id=grid.community_id, grid_id=grid.id,
                    category_code=category, description=text, lat=point[0], lon=point[1],
                    accuracy_m=8.0, captured_at=created - timedelta(minutes=2),
                    created_at=created, flags=[])
    session.add(report)
    session.flush()  # its id, for the moves
    return report


class _Cast:
    """The people who move the demo cases, and a move helper."""

    def __init__(self, session: Session, dispatcher: User, supervisor: User,
                 departments: dict[str, User]) -> None:
        self.session, self.dispatcher, self.supervisor = session, dispatcher, supervisor
        self.departments = departments

    def move(self, user: User, report: Report, when: datetime, **body: Any) -> None:
        body.setdefault("note", "")
        cases.transition(self.session, access_for(self.session, user), report.id, body, at=when)


_DONE = {"report": "reported", "accept": "accepted", "dispatch": "dispatched",
         "handle": "handled", "verify": "verified", "close": "closed"}


def _times() -> str:
    """The worked example's times: 'reported 06:37, accepted and dispatched 08:33, ...'."""
    moments: list[tuple[list[str], str]] = []
    for action, hour, minute in SEED_004_TIMES:
        clock = f"{hour:02d}:{minute:02d}"
        if moments and moments[-1][1] == clock:
            moments[-1][0].append(_DONE[action])
        else:
            moments.append(([_DONE[action]], clock))
    return ", ".join(f"{' and '.join(done)} {clock}" for done, clock in moments)


def _replay_seed_004(session: Session, cast: _Cast, grid: Grid) -> str:
    """The worked example of the city's records (seed 004), replayed at its real times; the
    line that says so, for a newcomer."""
    today = cases.now().astimezone(LOCAL).date()
    year = today.year if (today.month, today.day) >= (9, 29) else today.year - 1
    at = {action: datetime(year, 9, 29, h, m, tzinfo=LOCAL).astimezone(UTC)
          for action, h, m in SEED_004_TIMES}
    reporter = _worker(session, grid) or cast.dispatcher
    report = _new_report(session, "seed-004", grid, reporter, "garbage", (28.8082, 113.0781),
                         at["report"], "赤壁市北渠附近出现少量垃圾(种子 004 的案例)")
    if report is None or "WATER" not in cast.departments:
        there = session.scalar(select(Report.id).where(
            Report.client_uuid == str(uuid.uuid5(_NS, "report:seed-004"))))
        return f"Worked example: case {there}, a real case from the city's records, kept."
    water = cast.departments["WATER"]
    cast.move(cast.dispatcher, report, at["accept"], action="accept", note="核实受理,同意立案")
    cast.move(cast.dispatcher, report, at["dispatch"], action="dispatch", department="WATER")
    cast.move(water, report, at["handle"], action="handle", note="已处理完毕,现场干净整洁",
              photo_ids=[_photo(session, water, "WATER")])
    cast.move(cast.supervisor, report, at["verify"], action="verify", note="现场核查完毕",
              location={"lat": report.lat, "lon": report.lon, "accuracy_m": 6.0})
    cast.move(cast.dispatcher, report, at["close"], action="close", note="予以结案")
    return (f"Worked example: case {report.id}, a real case from the city's records "
            f"({year}-09-29),\n  replayed through the case flow: {_times()}.")


def _plan(rng: random.Random, report: Report, dept: str, sla: float,
          cast: _Cast) -> list[tuple[datetime, User, dict[str, Any]]]:
    """The moves of one history case, with their times (some lie in the future: not made)."""
    t = report.created_at + timedelta(hours=rng.uniform(0.2, 4.0))
    if rng.random() < 0.03:
        return [(t, cast.dispatcher, {"action": "reject", "note": "重复上报,不予立案"})]
    handler, session = cast.departments[dept], cast.session
    plan: list[tuple[datetime, User, dict[str, Any]]] = [
        (t, cast.dispatcher, {"action": "accept"}),
        (t + timedelta(minutes=rng.uniform(0, 20)), cast.dispatcher,
         {"action": "dispatch", "department": dept})]
    if rng.random() < 0.04:
        return plan  # the department never answers: overdue, escalated
    t = plan[-1][0]
    handle = {"action": "handle", "note": "已处置", "photo_ids": [_photo(session, handler, dept)]}
    passes = 2 if rng.random() < 0.08 else 1
    for attempt in range(passes):
        t += timedelta(hours=sla * _PACE.get(dept, 0.7) * rng.uniform(0.1, 1.3))
        plan.append((t, handler, handle))
        t += timedelta(hours=rng.uniform(0.3, 3.0))
        if attempt + 1 < passes:
            plan.append((t, cast.supervisor, {
                "action": "fail_verify", "note": "现场仍未处理干净",
                "photo_ids": [_photo(session, cast.supervisor, "supervisor")]}))
    plan.append((t, cast.supervisor, {"action": "verify", "location": {
        "lat": report.lat, "lon": report.lon, "accuracy_m": 8.0}}))
    plan.append((t + timedelta(hours=rng.uniform(0.1, 1.5)), cast.dispatcher,
                 {"action": "close"}))
    return plan


def _history(session: Session, cast: _Cast, grids: list[Grid]) -> int:
    rng = random.Random(20260929)  # noqa: S311 - reproducible demo data
    now = cases.now()
    slas = {c.code: c.sla_hours for c in session.scalars(select(Category))}
    categories = [c for c in DEPARTMENT_OF if c in slas]
    made = 0
    for i in range(HISTORY_CASES):
        grid = grids[i % len(grids)]
        category = categories[rng.randrange(len(categories))]
        dept = DEPARTMENT_OF[category] if DEPARTMENT_OF[category] in cast.departments else "URBAN"
        created = (now - timedelta(days=HISTORY_DAYS * (1 - (i + rng.random()) / HISTORY_CASES))
                   ).replace(microsecond=0)
        point = (rng.uniform(grid.min_lat + 0.0003, grid.max_lat - 0.0003),
                 rng.uniform(grid.min_lon + 0.0003, grid.max_lon - 0.0003))
        reporter = _worker(session, grid) or cast.dispatcher
        report = _new_report(session, f"history:{i}", grid, reporter, category,
                             (round(point[0], 6), round(point[1], 6)), created, _NOTES[category])
        if report is None or dept not in cast.departments:
            continue
        for when, user, body in _plan(rng, report, dept, float(slas[category]), cast):
            if when > now:
                break
            cast.move(user, report, when, **body)
        made += 1
    return made


def _move_fresh_reports(session: Session, cast: _Cast) -> int:
    """Accept and dispatch two of the demo reports' now, so department queues have work."""
    try:
        from server.demo.reports import SCENES
    except ImportError:
        return 0
    moved = 0
    for key, dept in (("fire-lane", "TRAFFIC"), ("dark-lamp", "POWER")):
        scene = next((s for s in SCENES if s.key == key), None)
        if scene is None or dept not in cast.departments:
            continue
        report = session.scalar(select(Report).where(
            Report.description == scene.description, Report.status == "reported"))
        if report is None:
            continue
        now = cases.now()
        cast.move(cast.dispatcher, report, now, action="accept")
        cast.move(cast.dispatcher, report, now, action="dispatch", department=dept)
        moved += 1
    return moved


def seed(session: Session, community: Community) -> Iterator[str]:
    """Replay seed 004, make eight weeks of cases, move two fresh reports (idempotent)."""
    ensure_default_categories(session)
    grids = list(session.scalars(select(Grid).where(Grid.community_id == community.id)
                                 .order_by(Grid.code)))
    dispatcher, supervisor = _user(session, "zhihui"), _user(session, "jiandu")
    if not grids or dispatcher is None or supervisor is None:
        yield "Demo cases: skipped (no grids, dispatcher or supervisor)."
        return
    cast = _Cast(session, dispatcher, supervisor, _department_users(session))
    yield _replay_seed_004(session, cast, grids[0])
    made = _history(session, cast, grids)
    moved = _move_fresh_reports(session, cast)
    escalated = escalate_overdue(session)
    yield (f"Demo cases: {made} made over {HISTORY_DAYS} days, {moved} fresh reports "
           f"dispatched, {len(escalated)} overdue escalated.")
    logins = ", ".join(f"{u.username} ({code})" for code, u in cast.departments.items())
    yield f"Department logins: {logins}."
