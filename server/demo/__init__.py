"""The demo community 友谊河社区, modelled on seed 000 (汨罗市归义镇).

Four grids bounded by roads and the 友谊河 canal, about 40 buildings, the departments of
seed 004, and a user for each role. Running it twice changes nothing. The households and
their visits, the reports and the case workflow follow, in the order ``_demo_extensions``
lists them.

Where it commits: :func:`seed_demo` is the boundary. It runs the registry and then each
part in a ``unit_of_work`` of its own (the parts, like the services they call, only
flush), so a part that fails keeps the parts before it, whether ``gridwork seed-demo`` or a
test calls it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Building, Community, Department, Grid, User
from server.services.auth import create_user
from server.services.grids import import_grids
from server.transactions import unit_of_work

__all__ = ["seed_demo", "DEMO_PASSWORD", "DEMO_COMMUNITY", "demo_grid_boxes"]

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed to the person running the demo
DEMO_COMMUNITY = ("YYH", "友谊河社区")

# The community lies between 高泉南路 (west) and 大众南路 (east), 罗城路 (south) and
# 建设路 (north); the canal and 人民路 cut it into four grids.
WEST, EAST, SOUTH, NORTH = 113.0700, 113.0860, 28.7980, 28.8090
CANAL_LON, MIDDLE_LAT = 113.0785, 28.8038

DEPARTMENTS = [
    ("WATER", "市水务局"), ("URBAN", "市城市管理局"), ("HOUSING", "市住房和城乡建设局"),
    ("TRAFFIC", "市公安局交警大队"), ("MARKET", "市场监督管理局"), ("POWER", "国网供电公司"),
    ("CIVIL", "市民政局"), ("STREET", "归义镇综治办"),
]

GRIDS = [
    ("YYH-01", "第一网格(建设路—友谊河西)", WEST, MIDDLE_LAT, CANAL_LON, NORTH),
    ("YYH-02", "第二网格(建设路—友谊河东)", CANAL_LON, MIDDLE_LAT, EAST, NORTH),
    ("YYH-03", "第三网格(罗城路—友谊河西)", WEST, SOUTH, CANAL_LON, MIDDLE_LAT),
    ("YYH-04", "第四网格(罗城路—友谊河东)", CANAL_LON, SOUTH, EAST, MIDDLE_LAT),
]


def _demo_extensions() -> list[Callable[[Session, Community], Iterator[str]]]:
    """What the demo adds after its registry, in this order: the households' visits, the
    workers' patrol tracks through them, the reports, the case workflow (which moves some
    of those reports along), and a worker's ODK Collect login."""
    from server.demo import households, reports, tracks, workflow
    from server.openrosa import demo as openrosa

    return [households.seed, tracks.seed, reports.seed, workflow.seed, openrosa.seed]


def demo_grid_boxes() -> list[tuple[str, str, float, float, float, float]]:
    """The demo grids as (code, name, west, south, east, north)."""
    return list(GRIDS)


def _grid_collection() -> dict[str, Any]:
    features = []
    for code, name, west, south, east, north in GRIDS:
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        features.append({"type": "Feature", "properties": {"code": code, "name": name},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def _seed_buildings(session: Session, community: Community) -> int:
    rng = random.Random(20261122)  # noqa: S311 - reproducible demo layout
    grids = {g.code: g for g in session.scalars(select(Grid).where(
        Grid.community_id == community.id))}
    made = 0
    number = 0
    for code, _name, west, south, east, north in GRIDS:
        for _ in range(10):
            number += 1
            bcode = f"{number:02d}"
            exists = session.scalar(select(Building.id).where(
                Building.community_id == community.id, Building.code == bcode))
            if exists:
                continue
            # Keep 30 m from the grid edges so a building never sits on a boundary road.
            lat = rng.uniform(south + 0.0004, north - 0.0004)
            lon = rng.uniform(west + 0.0004, east - 0.0004)
            session.add(Building(community_id=community.id, grid_id=grids[code].id, code=bcode,
                                 name=f"{number}栋", lat=round(lat, 6), lon=round(lon, 6),
                                 units=rng.choice([2, 3, 3, 4])))
            made += 1
    return made


def _demo_users(session: Session, community: Community) -> list[tuple[str, str, str]]:
    first_building = session.scalars(select(Building).where(
        Building.community_id == community.id).order_by(Building.code).limit(2)).all()
    specs: list[tuple[str, str, str, dict[str, Any]]] = [
        ("admin", "系统管理员", "admin", {}),
        ("shuji", "李书记", "secretary", {"community_code": community.code}),
        ("zhihui", "王值班长", "dispatcher", {}),
        ("shuiwu", "水务局张工", "department", {"department_code": "WATER"}),
        ("chengguan", "城管局刘工", "department", {"department_code": "URBAN"}),
        ("jiandu", "陈监督员", "supervisor", {"grid_codes": tuple(g[0] for g in GRIDS)}),
        ("louzhang", "赵楼长", "building_head",
         {"building_ids": tuple(b.id for b in first_building)}),
    ]
    workers = ["周", "吴", "郑", "孙"]
    for i, (code, *_rest) in enumerate(GRIDS):
        specs.append((f"wangge{i + 1}", f"{workers[i]}网格员", "grid_worker",
                      {"grid_codes": (code,)}))
    made = []
    for username, display, role, geo in specs:
        if session.scalar(select(User.id).where(User.username == username)) is None:
            create_user(session, username, DEMO_PASSWORD, role, display_name=display, **geo)
        made.append((username, display, role))
    return made


def _seed_registry(session: Session) -> tuple[Community, list[tuple[str, str, str]]]:
    """The community, its departments, grids, buildings and users."""
    code, name = DEMO_COMMUNITY
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        community = Community(code=code, name=name)
        session.add(community)
        session.flush()
    for dcode, dname in DEPARTMENTS:
        if session.scalar(select(Department.id).where(Department.code == dcode)) is None:
            session.add(Department(code=dcode, name=dname))
    import_grids(session, code, _grid_collection())
    _seed_buildings(session, community)
    return community, _demo_users(session, community)


def seed_demo() -> Iterator[str]:
    """Build the demo community and yield the lines to print (the logins); each part is
    committed before its lines are yielded."""
    session = db.session
    with unit_of_work(session):
        community, users = _seed_registry(session)
    yield f"Demo community {community.name} ({community.code}): {len(GRIDS)} grids."
    for extension in _demo_extensions():
        with unit_of_work(session):
            lines = list(extension(session, community))
        yield from lines
    yield f"Logins (password for all: {DEMO_PASSWORD}):"
    for username, display, role in users:
        yield f"  {username:<10} {role:<14} {display}"
