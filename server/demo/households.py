"""Demo households and visits for 友谊河社区: about 1,500 households in the 40 demo buildings,
and about 600 visits over the past 60 days by the four grid workers (wangge1..4).

The workers are not equally diligent, some visits are logged far from the door (off_site)
or days late, and some families were not home, so the secretary's map and coverage figures
have something to show. Names, phones and ID numbers are made up (ID check digits valid).
Bulk inserts keep it to a second or two; a community that has households is left alone.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from geopy.distance import geodesic
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from schemas.households import id_number_is_valid
from server.crypto import lookup_hash
from server.geo import distance_m
from server.models import Building, Community, Household, User, Visit, YellowRibbonRequest
from server.models.types import utcnow
from server.services.idempotency import body_digest
from server.services.visit_policy import intervals_for, schedule

__all__ = ["seed", "HOUSEHOLDS", "VISITS_BY_WORKER"]

HOUSEHOLDS = 1500
VISITS_BY_WORKER = {"wangge1": 240, "wangge2": 180, "wangge3": 125, "wangge4": 55}
_OUTCOME_WEIGHTS = {"met": 76, "not_home": 19, "refused": 4, "moved_out": 1}
_NS = uuid.UUID("0f5d3d8e-7f3e-4b8a-a3f2-6d1f3c2b9e41")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国玉兰淑珍德福志强春梅"
# (tag, share of households)
_TAG_SHARES = [("elderly_alone", 0.06), ("elderly", 0.10), ("disabled", 0.04),
               ("seriously_ill", 0.02), ("low_income", 0.05), ("left_behind_child", 0.03),
               ("veteran", 0.03), ("yellow_ribbon", 0.01)]
_NOTES = ["老人身体尚可,叮嘱注意防滑", "家中一切正常", "反映楼道灯不亮", "了解低保续办情况",
          "孩子在校表现良好", "提醒燃气安全", "子女周末回来探望", "需要上门量血压", ""]
_SHANGHAI = ZoneInfo("Asia/Shanghai")


def _id_number(rng: random.Random) -> str:
    born = datetime(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 75))
    while True:
        body = f"430681{born:%Y%m%d}{rng.randrange(1000):03d}"
        for check in "0123456789X":
            if id_number_is_valid(body + check):
                return body + check


def _household_rows(rng: random.Random, community: Community, buildings: list[Building],
                    now: datetime) -> list[dict[str, Any]]:
    rows = []
    per_building = [HOUSEHOLDS // len(buildings)] * len(buildings)
    for i in range(HOUSEHOLDS % len(buildings)):
        per_building[i] += 1
    created = now - timedelta(days=120)
    for building, count in zip(buildings, per_building, strict=True):
        slots = [(u, f, d) for u in range(1, building.units + 1) for f in range(1, 19)
                 for d in (1, 2)]
        for unit, floor, door in sorted(rng.sample(slots, min(count, len(slots)))):
            tags = [t for t, share in _TAG_SHARES if rng.random() < share]
            rows.append({
                "community_id": community.id, "grid_id": building.grid_id,
                "building_id": building.id, "unit": str(unit), "door": f"{floor}0{door}",
                "code": f"{building.code}-{unit}-{floor}0{door}",
                "head_name": rng.choice(_SURNAMES) + "".join(
                    rng.choice(_GIVEN) for _ in range(rng.choice((1, 2)))),
                "phone": "1" + rng.choice(("38", "39", "58", "86", "35", "87", "77"))
                + f"{rng.randrange(10**8):08d}",
                "id_number": _id_number(rng), "members": rng.choice((1, 2, 2, 3, 3, 3, 4, 5)),
                "lat": building.lat, "lon": building.lon, "tags": tags, "notes": "",
                "created_at": created, "updated_at": created,
                "due_from_at": created, "next_due_at": created})
    for row in rows:  # bulk inserts skip the model's validator that fills the phone hash
        row["phone_hash"] = lookup_hash(row["phone"])
    return rows


def _visit_time(rng: random.Random, now: datetime) -> datetime:
    day = (now - timedelta(days=rng.randrange(0, 60))).astimezone(_SHANGHAI).date()
    local = datetime(day.year, day.month, day.day, 8, 30, tzinfo=_SHANGHAI) + timedelta(
        minutes=rng.randrange(0, 9 * 60))
    return min(local, now - timedelta(minutes=30))


def _visits(rng: random.Random, session: Session, homes: list[Household],
            ribbons: dict[int, datetime], now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for username, count in VISITS_BY_WORKER.items():
        worker = session.scalar(select(User).where(User.username == username))
        if worker is None:
            continue
        grid_ids = {g.id for g in worker.grids}
        mine = [h for h in homes if h.grid_id in grid_ids]
        # The vulnerable get visited more often, as they should.
        weights = [4 if h.tags else 1 for h in mine]
        for _ in range(count if mine else 0):
            home = rng.choices(mine, weights)[0]
            when = _visit_time(rng, now)
            if home.id in ribbons and when > ribbons[home.id]:
                when = ribbons[home.id] - timedelta(days=rng.uniform(1, 9))
            off_site = rng.random() < 0.07
            bearing, metres = rng.uniform(0, 360), (rng.uniform(250, 700) if off_site
                                                    else rng.uniform(3, 60))
            spot = geodesic(meters=metres).destination((home.lat, home.lon), bearing)
            late = rng.random() < 0.03
            outcome = rng.choices(list(_OUTCOME_WEIGHTS), list(_OUTCOME_WEIGHTS.values()))[0]
            key = f"demo-visit-{len(rows)}"
            rows.append({
                "client_uuid": str(uuid.uuid5(_NS, key)), "body_sha256": body_digest({"k": key}),
                "household_id": home.id, "worker_id": worker.id, "grid_id": home.grid_id,
                "visited_at": when, "received_at": when + timedelta(
                    hours=rng.uniform(80, 120) if late else rng.uniform(0, 2)),
                "lat": spot.latitude, "lon": spot.longitude,
                "accuracy_m": round(rng.uniform(5, 40), 1), "input_crs": "wgs84",
                "distance_m": round(distance_m((spot.latitude, spot.longitude),
                                               (home.lat, home.lon)), 1),
                "outcome": outcome, "notes": rng.choice(_NOTES) if outcome == "met" else "",
                "flags": (["off_site"] if off_site else []) + (["late_entry"] if late else []),
                "off_site": off_site, "follow_up_on": None})
    return rows


def _reschedule(session: Session, community: Community, homes: list[Household],
                visits: list[dict[str, Any]], ribbons: dict[int, datetime]) -> None:
    last_visit: dict[int, datetime] = {}
    last_met: dict[int, datetime] = {}
    for v in visits:
        hid = v["household_id"]
        last_visit[hid] = max(last_visit.get(hid, v["visited_at"]), v["visited_at"])
        if v["outcome"] == "met":
            last_met[hid] = max(last_met.get(hid, v["visited_at"]), v["visited_at"])
    intervals = intervals_for(community)
    changes = []
    for home in homes:
        plan = schedule(tags=home.tags, intervals=intervals, created_at=home.created_at,
                        last_met_at=last_met.get(home.id), ribbon_raised_at=ribbons.get(home.id))
        changes.append({"id": home.id, "last_visit_at": last_visit.get(home.id),
                        "last_met_at": last_met.get(home.id),
                        "visit_interval_days": plan.interval_days, "priority": plan.priority,
                        "due_from_at": plan.due_from_at, "next_due_at": plan.next_due_at})
    session.execute(update(Household), changes)


def seed(session: Session, community: Community) -> Iterator[str]:
    """Add the demo households and visits to ``community`` unless it has households."""
    if session.scalar(select(func.count(Household.id)).where(
            Household.community_id == community.id)):
        yield "Households: the community has some already; left as they are."
        return
    buildings = list(session.scalars(select(Building).where(
        Building.community_id == community.id, Building.grid_id.is_not(None))
        .order_by(Building.code)))
    if not buildings:
        return
    rng = random.Random(20261123)  # noqa: S311 - reproducible demo data
    now = utcnow()
    session.execute(insert(Household), _household_rows(rng, community, buildings, now))
    homes = list(session.scalars(select(Household).where(
        Household.community_id == community.id).order_by(Household.id)))
    ribbons = {h.id: now - timedelta(hours=rng.uniform(2, 60)) for h in homes
               if "yellow_ribbon" in h.tags}
    if ribbons:
        session.execute(insert(YellowRibbonRequest), [
            {"household_id": hid, "raised_at": at, "note": "楼长反映:家中老人需要帮助"}
            for hid, at in ribbons.items()])
    visits = _visits(rng, session, homes, ribbons, now)
    if visits:
        session.execute(insert(Visit), visits)
    _reschedule(session, community, homes, visits, ribbons)
    off_site = sum(v["off_site"] for v in visits)
    yield (f"Households: {len(homes)} in {len(buildings)} buildings; {len(visits)} visits "
           f"over 60 days ({off_site} off-site), {len(ribbons)} yellow ribbons open.")
