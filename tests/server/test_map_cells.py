"""The map's clusters: the same answer from the pre-aggregated cells (PostgreSQL) as from
counting the households (SQLite, and PostgreSQL without cells), and the cells stay exact as
visits are written, households edited, moved and retired, and time passes."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from server.extensions import db
from server.models import Household
from server.models.types import utcnow
from server.services import map_cells
from server.services.access import access_for
from server.services.scopes import map_cell_grids
from server.services.visit_policy import status_of
from tests.factories import Factory
from tests.server.visit_support import add_household, visit_body

ZONE = "Asia/Shanghai"
BBOX = (28.798, 113.066, 28.806, 113.090)  # C1's two grids and a margin
ZOOMS = (12, 14, 15, 16)
CELL_PX = 64  # the configured default: level = zoom + 2


def postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _households(factory: Factory, count: int = 36) -> list[Household]:
    """Households spread over G1 and G2 (some on cell edges), with mixed tags and meetings."""
    rng = random.Random(16)
    now = utcnow()
    made = []
    for n in range(count):
        grid = "G1" if n % 2 else "G2"
        center = Factory.G1_CENTER if grid == "G1" else Factory.G2_CENTER
        point = (center[0] + rng.uniform(-0.0019, 0.0019), center[1] + rng.uniform(-0.0039, 0.0039))
        if n % 9 == 0:  # exactly on a level-16 cell edge
            edge = 360 / 2 ** 18 * 4
            point = (math.floor((point[0] + 90) / edge) * edge - 90, point[1])
        tags = [("elderly_alone",), ("yellow_ribbon",), (), ("low_income",)][n % 4]
        met = None if n % 5 == 0 else now - timedelta(days=rng.uniform(0.5, 120))
        made.append(add_household(factory, grid, door=str(100 + n), tags=tags,
                                  last_met_at=met, point=point))
    return made


def _reference(bbox: tuple[float, ...], level: int, now: datetime,
               start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The clusters counted in Python, household by household (the definition)."""
    scale = 2 ** map_cells.FINEST / 360.0
    div = 2 ** (map_cells.FINEST - level)
    y0, x0, y1, x1 = map_cells.cell_range(bbox, level)  # type: ignore[arg-type]
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for h in db.session.scalars(select(Household)):
        gy = math.floor((h.lat + 90.0) * scale) // div
        gx = math.floor((h.lon + 180.0) * scale) // div
        if not (y0 <= gy <= y1 and x0 <= gx <= x1):
            continue
        cell = cells.setdefault((gy, gx), {"count": 0, "lat": 0.0, "lon": 0.0, "ok": 0, "due": 0,
                                           "overdue": 0, "ribbon": 0, "visited": 0})
        status = status_of(h, now)
        cell["count"] += 1
        cell["lat"] += h.lat
        cell["lon"] += h.lon
        if status in ("ok", "due", "overdue"):
            cell[status] += 1
        cell["ribbon"] += h.has_tag("yellow_ribbon")
        cell["visited"] += h.last_met_at is not None and start <= h.last_met_at < end
    return [{**c, "lat": c["lat"] / c["count"], "lon": c["lon"] / c["count"]}
            for _key, c in sorted(cells.items())]


def _same(answer: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    keys = ("count", "ok", "due", "overdue", "ribbon", "visited")
    assert [{k: c[k] for k in keys} for c in answer] == [{k: c[k] for k in keys} for c in expected]
    for got, want in zip(answer, expected, strict=True):
        assert got["lat"] == pytest.approx(want["lat"], abs=1e-9)
        assert got["lon"] == pytest.approx(want["lon"], abs=1e-9)


def _view(client: FlaskClient, headers: dict[str, str], zoom: int, **params: Any) -> Any:
    bbox = ",".join(str(v) for v in BBOX)
    response = client.get("/api/v1/map/households", headers=headers,
                          query_string={"bbox": bbox, "zoom": zoom, **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _service_cells(level: int, now: datetime, start: datetime, end: datetime,
                   actor: Any) -> list[dict[str, Any]]:
    grids = map_cell_grids(access_for(db.session, actor.user))
    assert grids is None or isinstance(grids, list)
    rows = map_cells.cell_counts(db.session, grids, bbox=BBOX, level=level, now=now,
                                 start=start, end=end)
    return [{"count": r["n"], "lat": r["lat_sum"] / r["n"], "lon": r["lon_sum"] / r["n"],
             "ok": r["ok"], "due": r["due"], "overdue": r["overdue"], "ribbon": r["ribbon"],
             "visited": r["met"]} for r in rows]


@pytest.fixture
def clusters_only(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MAP_MAX_POINTS", 0)


def test_clusters_are_the_households_counted_one_by_one(client: FlaskClient, factory: Factory,
                                                        clusters_only: None) -> None:
    """Per zoom, each cluster's counts and mean point equal a count of the households by hand:
    on SQLite directly, on PostgreSQL from the cells and again without them."""
    _households(factory)
    admin = factory.actor("admin")
    modes = ["households"]
    if postgresql():
        map_cells.rebuild(db.session, utcnow(), ZONE)
        db.session.commit()
        modes.append("cells")
    for mode in reversed(modes):
        if mode == "households" and postgresql():
            db.session.execute(text("DELETE FROM map_cell_clock"))
            db.session.commit()
        for zoom in ZOOMS:
            view = _view(client, admin.headers, zoom)
            now = utcnow()
            start, end = now - timedelta(days=30), now
            assert view["mode"] == "clusters"
            assert view["cell_deg"] == pytest.approx(360 / 2 ** (zoom + 2))
            _same(view["clusters"], _reference(BBOX, zoom + 2, now, start, end))


def test_a_secretary_sees_her_grids_and_a_worker_his_grid_in_the_clusters(
        client: FlaskClient, factory: Factory, clusters_only: None) -> None:
    _households(factory)
    if postgresql():
        map_cells.rebuild(db.session, utcnow(), ZONE)
        db.session.commit()
    worker = factory.actor("grid_worker", grids=("G1",))
    secretary = factory.actor("secretary")
    g1 = sum(c["count"] for c in _view(client, worker.headers, 14)["clusters"])
    both = sum(c["count"] for c in _view(client, secretary.headers, 14)["clusters"])
    only_g1 = sum(c["count"] for c in _view(client, secretary.headers, 14, grid="G1")["clusters"])
    assert (g1, only_g1, both) == (18, 18, 36)


def test_cells_stay_exact_as_visits_are_written_edited_and_moved(
        client: FlaskClient, factory: Factory) -> None:
    """PostgreSQL: a trigger records every household change; reads add the pending changes
    and the households whose status turned since the clock; advance folds them in."""
    if not postgresql():
        pytest.skip("the cells are PostgreSQL's")
    homes = _households(factory)
    admin = factory.actor("admin")
    worker = factory.actor("grid_worker", grids=("G1", "G2"))
    map_cells.rebuild(db.session, utcnow(), ZONE)
    db.session.commit()

    def check(now: datetime, start: datetime | None = None) -> None:
        start = start or now - timedelta(days=30)
        for level in (zoom + 2 for zoom in ZOOMS):
            expected = _reference(BBOX, level, now, start, now)
            _same(_service_cells(level, now, start, now, admin), expected)

    check(utcnow())
    # Visits written through the API: met (due dates move), moved out (leaves the counts).
    for home, outcome in ((homes[0], "met"), (homes[3], "moved_out"), (homes[4], "not_home")):
        response = client.post("/api/v1/visits", json=visit_body(home, outcome=outcome),
                               headers=worker.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(text("SELECT count(*) FROM map_cell_change")) > 0
    check(utcnow())
    # Edited and moved: another point, another grid, a ribbon; one deleted.
    moved = db.session.get(Household, homes[5].id)
    moved.lat, moved.lon = Factory.G2_CENTER[0] + 0.0011, Factory.G2_CENTER[1] - 0.0031
    moved.grid_id = factory.grid("G2").id
    tagged = db.session.get(Household, homes[6].id)
    tagged.tags = [*tagged.tags, "yellow_ribbon"]
    db.session.delete(db.session.get(Household, homes[7].id))
    db.session.commit()
    check(utcnow())
    # Time passes: households turn due and overdue without a write; a read still adds up,
    # before and after the clock is advanced (the changes folded in).
    later = utcnow() + timedelta(days=40)
    check(later)
    assert map_cells.advance(db.session, later, ZONE)
    db.session.commit()
    assert db.session.scalar(text("SELECT count(*) FROM map_cell_change")) == 0
    check(later)
    check(later + timedelta(days=3), start=later - timedelta(days=90))


def test_the_clusters_come_from_the_cells_on_postgresql(client: FlaskClient, factory: Factory,
                                                        clusters_only: None) -> None:
    """A cell changed behind the service's back shows in the answer: the cells are what is read."""
    if not postgresql():
        pytest.skip("the cells are PostgreSQL's")
    _households(factory)
    admin = factory.actor("admin")
    map_cells.rebuild(db.session, utcnow(), ZONE)
    db.session.commit()
    before = sum(c["count"] for c in _view(client, admin.headers, 12)["clusters"])
    db.session.execute(text("UPDATE map_cell SET n = n + 1000, lat_sum = lat_sum * (n + 1000) / n, "
                            "lon_sum = lon_sum * (n + 1000) / n WHERE level = 14"))
    db.session.commit()
    after = sum(c["count"] for c in _view(client, admin.headers, 12)["clusters"])
    assert after - before == 1000 * db.session.scalar(text(
        "SELECT count(*) FROM map_cell WHERE level = 14"))


def test_the_map_and_the_coverage_count_the_same_households_as_met(
        client: FlaskClient, factory: Factory, clusters_only: None) -> None:
    """One definition: households living in the grids, met in the window. A household met
    and then moved out counts in neither; one met and moved to G2 counts in G2."""
    homes = _households(factory)
    worker = factory.actor("grid_worker", grids=("G1", "G2"))
    secretary = factory.actor("secretary")
    for home, outcome in ((homes[1], "met"), (homes[2], "met"), (homes[3], "moved_out")):
        response = client.post("/api/v1/visits", json=visit_body(home, outcome=outcome),
                               headers=worker.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    moved = db.session.get(Household, homes[1].id)
    moved.grid_id = factory.grid("G2").id  # G1's household, met, now lives in G2
    db.session.commit()
    if postgresql():
        map_cells.rebuild(db.session, utcnow(), ZONE)
        db.session.commit()
    today = utcnow().astimezone(ZoneInfo(ZONE)).date()
    body = client.get("/api/v1/stats/coverage", headers=secretary.headers, query_string={
        "from": (today - timedelta(days=29)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat()}).get_json()
    view = _view(client, secretary.headers, 12, **{"from": body["from"], "to": body["to"]})
    assert body["total"]["households_visited"] == view["counts"]["visited"]
    assert body["total"]["households"] == view["counts"]["total"] - 1  # the one moved out
    by_grid = {row["grid"]: row["households_visited"] for row in body["grids"]}
    met = [h for h in db.session.scalars(select(Household))
           if h.moved_out_at is None and h.last_met_at is not None
           and h.last_met_at >= datetime.fromisoformat(body["from"])]
    assert by_grid == {"G1": sum(h.grid_id == factory.grid("G1").id for h in met),
                       "G2": sum(h.grid_id == factory.grid("G2").id for h in met)}


def test_an_advance_waits_a_little_for_writers_then_leaves_it_to_the_next_read(
        factory: Factory) -> None:
    """A writer's transaction holds the lock shared: advance gives up after its wait, the
    read's transaction goes on, and once the writer is done the clock moves."""
    if not postgresql():
        pytest.skip("the cells are PostgreSQL's")
    home = _households(factory, count=2)[0]
    map_cells.rebuild(db.session, utcnow(), ZONE)
    db.session.commit()
    writer = db.engine.connect()
    try:
        with writer.begin():
            writer.execute(text("UPDATE household SET lat = lat + 0.0001 WHERE id = :id"),
                           {"id": home.id})  # the trigger takes the lock shared
            later = utcnow() + timedelta(minutes=10)
            assert not map_cells.advance(db.session, later, ZONE, wait_ms=50)
            assert db.session.scalar(text("SELECT count(*) FROM household")) == 2
            db.session.rollback()
    finally:
        writer.close()
    assert map_cells.advance(db.session, later, ZONE, wait_ms=50)
    db.session.commit()
    assert db.session.scalar(text("SELECT as_of FROM map_cell_clock")) == later
    assert db.session.scalar(text("SELECT count(*) FROM map_cell_change")) == 0
