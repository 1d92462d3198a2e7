"""Administrators create buildings over the API and import sheets of them; no SQL needed."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import select

from server.geo import from_wgs84
from server.models import AuditLog, Building
from server.services.buildings import import_buildings
from tests.factories import Factory

G1_LAT, G1_LON = Factory.G1_CENTER
G2_LAT, G2_LON = Factory.G2_CENTER


def test_an_admin_creates_a_building_in_a_grid(client, factory, db):
    admin = factory.actor("admin")
    answer = client.post("/api/v1/buildings", headers=admin.headers, json={
        "code": "B3", "name": "3号楼", "grid": "G1", "lat": G1_LAT, "lon": G1_LON, "units": 4})
    assert answer.status_code == 201, answer.json
    assert {k: answer.json[k] for k in ("code", "community", "grid", "units")} == {
        "code": "B3", "community": "C1", "grid": "G1", "units": 4}
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "building_created"))


def test_without_a_grid_code_the_building_goes_to_the_grid_of_its_point(client, factory):
    admin = factory.actor("admin")
    lat, lon = from_wgs84(G2_LAT, G2_LON, "gcj02")  # as AMap shows it
    answer = client.post("/api/v1/buildings", headers=admin.headers, json={
        "code": "B4", "name": "4号楼", "lat": lat, "lon": lon, "crs": "gcj02"})
    assert answer.status_code == 201 and answer.json["grid"] == "G2"
    assert abs(answer.json["lat"] - G2_LAT) < 1e-5 and abs(answer.json["lon"] - G2_LON) < 1e-5


def test_a_point_in_another_grid_than_the_one_named_is_refused(client, factory):
    admin = factory.actor("admin")
    answer = client.post("/api/v1/buildings", headers=admin.headers, json={
        "code": "B5", "name": "5号楼", "grid": "G1", "lat": G2_LAT, "lon": G2_LON})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"grid": ["The point lies in grid G2, not G1."]}


def test_a_building_code_taken_in_the_community_is_409(client, factory):
    admin = factory.actor("admin")
    answer = client.post("/api/v1/buildings", headers=admin.headers, json={
        "code": "BG1", "name": "重复", "lat": G1_LAT, "lon": G1_LON})
    assert answer.status_code == 409 and answer.json["type"] == "/problems/building_code_taken"


SHEET = ("楼栋编号,名称,网格,纬度,经度,单元数\n"
         f"B7,7号楼,G1,{G1_LAT},{G1_LON},2\n"
         f"B8,8号楼,,{G2_LAT},{G2_LON},\n")


def test_a_sheet_of_buildings_imports_once_and_again_changes_nothing(factory, db):
    factory.world()
    first = import_buildings(db.session, None, SHEET.encode())
    db.session.commit()
    assert (first.problems, first.created, first.updated) == ([], 2, 0)
    built = {b.code: (b.grid.code, b.units) for b in db.session.scalars(select(Building))}
    assert built["B7"] == ("G1", 2) and built["B8"] == ("G2", 1)
    again = import_buildings(db.session, None, SHEET.encode())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    renamed = import_buildings(db.session, None, SHEET.replace("7号楼", "七号楼").encode())
    assert (renamed.updated, renamed.unchanged) == (1, 1)


def test_a_sheet_with_a_bad_row_imports_nothing_and_names_row_and_field(client, factory, db):
    admin = factory.actor("admin")
    bad = SHEET + "B9,9号楼,G9,28.8,113.07,1\nB7,重复,G1,28.802,113.074,1\n,无编号,G1,abc,113,0\n"
    answer = client.post("/api/v1/buildings/import", headers=admin.headers, data={
        "file": (io.BytesIO(bad.encode()), "buildings.csv")}, content_type="multipart/form-data")
    assert answer.status_code == 422 and answer.json["type"] == "/problems/import_rejected"
    assert [(p["row"], p["field"]) for p in answer.json["problems"]] == [
        (4, "grid"), (5, "code"), (6, "code"), (6, "lat"), (6, "units")]
    assert db.session.scalar(select(Building).where(Building.code == "B7")) is None
    dry = client.post("/api/v1/buildings/import?dry_run=1", headers=admin.headers,
                      data=bad.encode(), content_type="text/csv")
    assert dry.status_code == 200 and len(dry.json["problems"]) == 5 and not dry.json["ok"]


def test_an_admin_imports_a_sheet_over_the_api(client, factory, db):
    admin = factory.actor("admin")
    answer = client.post("/api/v1/buildings/import", headers=admin.headers,
                         data=SHEET.encode(), content_type="text/csv")
    assert answer.status_code == 200, answer.json
    assert (answer.json["created"], answer.json["ok"]) == (2, True)
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "buildings_imported",
                                                    AuditLog.user_id == admin.id))


def test_an_xlsx_sheet_with_english_headers_imports(factory, db):
    factory.world()
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "name", "grid", "lat", "lon"])
    sheet.append(["B10", "10号楼", "G1", G1_LAT, G1_LON])
    data = io.BytesIO()
    book.save(data)
    result = import_buildings(db.session, None, data.getvalue())
    assert (result.problems, result.created) == ([], 1)


def test_a_sheet_without_the_required_columns_says_which(factory, db):
    factory.world()
    result = import_buildings(db.session, None, "名称,网格\n7号楼,G1\n".encode(), dry_run=True)
    assert [(p.row, p.field) for p in result.problems] == [(1, "code"), (1, "lat"), (1, "lon")]
