"""Demo reports for the demo community: the default categories and a dozen street problems.

Each report has a generated photo with EXIF GPS and capture time, so the map, the photo
pages and the flags have something real to show: one report is a possible duplicate of
the canal garbage of seed 004, one photo is stale, one was taken 300 m away, and one report
lies outside every grid. Running the seed again changes nothing (fixed client UUIDs).
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Community, Grid, Photo, Report, Role, User, user_grids
from server.services.access import access_for
from server.services.categories import ensure_default_categories
from server.services.photos import accept_photo, photo_store
from server.services.reports import create_report

__all__ = ["seed", "SCENES", "Scene"]

_NAMESPACE = uuid.UUID("6f1c2a52-3d0e-4f43-9b7e-5e1d2c3b4a60")


@dataclass(frozen=True)
class Scene:
    """One demo report: where in which grid (fractions of its box), what, and how long ago."""

    key: str
    grid: int  # index into the community's grids, by code
    north: float  # 0 = south edge, 1 = north edge
    east: float  # 0 = west edge, 1 = east edge
    category: str
    description: str
    hours_ago: float
    photo_hours_before: float = 0.0  # the photo was taken this long before the report
    photo_offset_m: float = 0.0  # the photo's GPS lies this far north of the report


SCENES: tuple[Scene, ...] = (
    Scene("canal-garbage", 0, 0.85, 0.95, "garbage",
          "友谊河北段岸边垃圾堆积,约3立方米,有异味", 7.5),
    Scene("canal-garbage-again", 0, 0.87, 0.94, "garbage",
          "河边垃圾没人清,居民反映", 6.0),
    Scene("fire-lane", 1, 0.6, 0.3, "illegal_parking",
          "消防通道被两辆私家车占用,消防车无法通行", 3.0),
    Scene("breakfast-stall", 2, 0.9, 0.5, "street_vendor",
          "人民路口早点摊占道经营,油烟大", 26.0),
    Scene("dark-lamp", 3, 0.4, 0.6, "street_light",
          "小区北侧路灯不亮,已持续三晚", 30.0),
    Scene("broken-pavement", 0, 0.95, 0.4, "road_damage",
          "建设路人行道地砖破损约2平方米,老人易绊倒", 50.0),
    Scene("loose-manhole", 1, 0.3, 0.7, "drain",
          "下水道井盖松动,雨后积水", 12.0),
    Scene("roof-shed", 2, 0.4, 0.3, "illegal_construction",
          "楼顶违规搭建彩钢棚,约20平方米", 72.0, photo_hours_before=60.0),
    Scene("hallway-charging", 3, 0.7, 0.2, "safety_hazard",
          "电动车在楼道充电,飞线拉到三楼", 2.0),
    Scene("leak-dispute", 0, 0.3, 0.5, "dispute",
          "楼上漏水,三楼与四楼住户发生矛盾", 40.0),
    Scene("bus-stop-bin", 1, 0.1, 0.5, "garbage",
          "公交站旁垃圾桶满溢", 5.0, photo_offset_m=300.0),
    Scene("outside-lot", 0, 1.15, 0.5, "other",
          "建设路北侧空地堆放建筑垃圾(网格外)", 20.0),
)

_COLOURS = {
    "garbage": (110, 90, 60), "illegal_parking": (40, 60, 140), "street_vendor": (200, 120, 40),
    "street_light": (60, 60, 70), "road_damage": (120, 120, 120), "drain": (50, 80, 90),
    "illegal_construction": (80, 140, 200), "safety_hazard": (220, 60, 40),
    "dispute": (150, 90, 150), "other": (120, 100, 80),
}


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = round((minutes_float - minutes) * 60 * 1000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 1000)


def scene_jpeg(scene: Scene, lat: float, lon: float, taken_local: datetime) -> bytes:
    """A 1280x960 JPEG standing for the scene, with EXIF GPS, capture time and camera."""
    rng = random.Random(scene.key)  # noqa: S311 - reproducible picture, not a secret
    img = Image.new("RGB", (1280, 960), (150, 180, 210))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 520, 1280, 960), fill=(105, 110, 100))
    colour = _COLOURS.get(scene.category, (120, 120, 120))
    for _ in range(14):
        x, y = rng.randrange(80, 1100), rng.randrange(480, 820)
        w, h = rng.randrange(60, 220), rng.randrange(40, 140)
        shade = tuple(max(0, min(255, c + rng.randrange(-30, 30))) for c in colour)
        draw.rectangle((x, y, x + w, y + h), fill=shade)
    font = ImageFont.load_default(size=40)
    draw.text((40, 40), f"Gridwork demo - {scene.category}", fill=(255, 255, 255), font=font)
    draw.text((40, 100), taken_local.strftime("%Y-%m-%d %H:%M"), fill=(255, 255, 255),
              font=font)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Xiaomi", "Redmi Note 12"
    exif[0x8769] = {0x9003: taken_local.strftime("%Y:%m:%d %H:%M:%S"), 0x9011: "+08:00"}
    exif[0x8825] = {0: b"\x02\x03\x00\x00", 1: "N", 2: _dms(lat), 3: "E", 4: _dms(lon)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, exif=exif.tobytes())
    return buf.getvalue()


def _reporter(session: Session, grid: Grid) -> User | None:
    return session.scalar(select(User).join(user_grids, user_grids.c.user_id == User.id).where(
        user_grids.c.grid_id == grid.id, User.role == Role.GRID_WORKER.value,
        User.active.is_(True)).order_by(User.id).limit(1))


def _point(grid: Grid, scene: Scene) -> tuple[float, float]:
    lat = grid.min_lat + (grid.max_lat - grid.min_lat) * scene.north
    lon = grid.min_lon + (grid.max_lon - grid.min_lon) * scene.east
    return round(lat, 6), round(lon, 6)


def _make_report(session: Session, scene: Scene, grid: Grid, user: User) -> None:
    report_uuid = str(uuid.uuid5(_NAMESPACE, f"report:{scene.key}"))
    photo_uuid = str(uuid.uuid5(_NAMESPACE, f"photo:{scene.key}"))
    lat, lon = _point(grid, scene)
    captured = (datetime.now(UTC) - timedelta(hours=scene.hours_ago)).replace(
        second=0, microsecond=0)
    if session.get(Photo, photo_uuid) is None:
        taken = captured - timedelta(hours=scene.photo_hours_before)
        photo_lat = lat + scene.photo_offset_m / 111_000
        data = scene_jpeg(scene, photo_lat, lon,
                          taken.astimezone(ZoneInfo(current_app.config["TIMEZONE"])))
        tmp = photo_store().tmp_dir / f"demo-{photo_uuid}.jpg"
        tmp.write_bytes(data)
        accept_photo(session, user, tmp, hashlib.sha256(data).hexdigest(),
                     client_uuid=photo_uuid, filename=f"IMG_{scene.key}.jpg")
    create_report(session, access_for(session, user), {
        "client_uuid": report_uuid, "category": scene.category,
        "description": scene.description,
        "location": {"lat": lat, "lon": lon, "accuracy_m": 10.0, "crs": "wgs84"},
        "captured_at": captured, "photo_ids": [photo_uuid]})


def seed(session: Session, community: Community) -> Iterator[str]:
    """Add the default categories and the demo reports (idempotent)."""
    added = ensure_default_categories(session)
    yield f"Report categories: {added} added."
    grids = list(session.scalars(select(Grid).where(Grid.community_id == community.id)
                                 .order_by(Grid.code)))
    if not grids:
        yield "Demo reports: skipped (the community has no grids)."
        return
    made = kept = 0
    for scene in SCENES:
        if session.scalar(select(Report.id).where(Report.client_uuid == str(
                uuid.uuid5(_NAMESPACE, f"report:{scene.key}")))) is not None:
            kept += 1
            continue
        grid = grids[scene.grid % len(grids)]
        user = _reporter(session, grid)
        if user is None:
            continue
        _make_report(session, scene, grid, user)
        made += 1
    yield f"Demo reports: {made} created, {kept} already there."
