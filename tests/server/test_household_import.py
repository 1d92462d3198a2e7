"""Spreadsheet import and export: Chinese headers, dry runs, all-or-nothing, upserts, CLI."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from server.extensions import db
from server.models import Household, YellowRibbonRequest
from tests.server.visit_support import id_number

HEADER = ["户号", "楼栋", "单元", "门牌号", "户主", "联系电话", "身份证号", "人口", "标签",
          "经度", "纬度", "备注", "序号"]


def row(i: int, **override):
    values = {"户号": f"H{i:05d}", "楼栋": "BG1" if i % 2 else "BG2", "单元": str(i % 4 + 1),
              "门牌号": str(100 + i), "户主": f"住户{i}", "联系电话": f"139{i:08d}",
              "身份证号": id_number(i), "人口": str(i % 5 + 1),
              "标签": "独居老人、低保" if i % 10 == 0 else "", "经度": "", "纬度": "",
              "备注": "", "序号": str(i)}
    values.update(override)
    return [values[h] for h in HEADER]


def xlsx(rows, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows, header=HEADER, encoding="utf-8") -> bytes:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


@pytest.fixture
def secretary(factory):
    return factory.actor("secretary")


def upload(client, actor, data, query="", filename="households.xlsx"):
    return client.post(f"/api/v1/households/import{query}", headers=actor.headers,
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def count() -> int:
    return db.session.scalar(select(func.count(Household.id)))


def test_two_thousand_rows_with_three_bad_ones(client, secretary):
    rows = [row(i) for i in range(2000)]
    rows[100] = row(100, 楼栋="B99")
    rows[1001] = row(1001, 联系电话="12ab")
    rows[1998] = row(1998, 标签="富人")
    bad = xlsx(rows)

    dry = upload(client, secretary, bad, "?dry_run=1")
    assert dry.status_code == 200
    assert dry.json["ok"] is False
    assert [(p["row"], p["field"]) for p in dry.json["problems"]] == [
        (102, "building"), (1003, "phone"), (2000, "tags")]
    assert dry.json["ignored_columns"] == ["序号"]

    real = upload(client, secretary, bad)
    assert real.status_code == 422
    assert real.json["type"].endswith("import_rejected")
    assert [p["row"] for p in real.json["problems"]] == [102, 1003, 2000]
    assert count() == 0

    fixed = xlsx([row(i) for i in range(2000)])
    done = upload(client, secretary, fixed)
    assert done.status_code == 200, done.json
    assert (done.json["created"], done.json["updated"], done.json["unchanged"]) == (2000, 0, 0)
    assert count() == 2000
    again = upload(client, secretary, fixed)
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0,
                                                                                       2000)
    assert count() == 2000


def test_imported_rows_are_stored_as_the_template_says(client, secretary, factory):
    data = csv_bytes([row(10, 楼栋="BG1", 单元="2", 门牌号="301", 户号="")])
    assert upload(client, secretary, data, filename="h.csv").json["created"] == 1
    household = db.session.scalar(select(Household))
    building = factory.building("G1")
    assert household.code == "BG1-2-301"
    assert (household.grid_id, household.lat, household.lon) == (
        building.grid_id, building.lat, building.lon)
    assert household.tags == ["elderly_alone", "low_income"]
    assert (household.phone, household.id_number, household.members) == (
        "13900000010", id_number(10), 1)
    assert household.visit_interval_days == 7


def test_a_changed_row_updates_only_that_household(client, secretary):
    upload(client, secretary, xlsx([row(i) for i in range(5)]))
    changed = [row(i) for i in range(5)]
    changed[3] = row(3, 户主="新户主", 标签="黄丝带")
    result = upload(client, secretary, xlsx(changed)).json
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 4)
    household = db.session.scalar(select(Household).where(Household.code == "H00003"))
    assert household.head_name == "新户主" and household.tags == ["yellow_ribbon"]
    ribbon = db.session.scalar(select(YellowRibbonRequest))
    assert ribbon.household_id == household.id and ribbon.closed_at is None


def test_gbk_csv_with_english_headers_and_own_points(client, secretary, factory):
    header = ["code", "door", "head_name", "phone", "members", "tags", "lon", "lat"]
    lat, lon = factory.G2_CENTER
    rows = [["X1", "友谊路1号", "刘一", "0730-5212345", "2", "veteran elderly", str(lon),
             str(lat)],
            ["X2", "友谊路2号", "陈二", "", "", "", "113.2", "28.9"]]
    data = csv_bytes(rows, header, "gb18030")
    dry = upload(client, secretary, data, "?dry_run=true", "h.csv").json
    assert [(p["row"], p["field"]) for p in dry["problems"]] == [(3, "lon")]
    result = upload(client, secretary, csv_bytes(rows[:1], header, "gb18030"), "", "h.csv")
    assert result.json["created"] == 1
    household = db.session.scalar(select(Household))
    assert (household.grid.code, household.building_id) == ("G2", None)
    assert household.tags == ["elderly", "veteran"]


def test_header_and_row_problems_are_named(client, secretary):
    no_head = upload(client, secretary, csv_bytes([["1", "BG1"]], ["门牌号", "楼栋"]))
    assert [(p["row"], p["field"]) for p in no_head.json["problems"]] == [(1, "head_name")]
    rows = [row(1), row(2, 户号="H00001"), row(3, 联系电话="139****0003"),
            row(4, 经度="113.07"), row(5, 人口="多")]
    result = upload(client, secretary, xlsx(rows), "?dry_run=1").json
    assert [(p["row"], p["field"]) for p in result["problems"]] == [
        (3, "code"), (4, "phone"), (5, "lat"), (6, "members")]


def test_coordinates_in_another_system_are_converted(client, secretary, factory):
    from server.geo import from_wgs84

    lat, lon = from_wgs84(*factory.G1_CENTER, "gcj02")
    data = csv_bytes([["Y1", "1号", "张", f"{lon}", f"{lat}"]],
                     ["户号", "门牌号", "户主", "经度", "纬度"])
    assert upload(client, secretary, data, "?crs=gcj02", "h.csv").json["created"] == 1
    household = db.session.scalar(select(Household))
    assert household.lat == pytest.approx(factory.G1_CENTER[0], abs=1e-5)


def test_export_then_import_changes_nothing(client, secretary):
    upload(client, secretary, xlsx([row(i) for i in range(30)]))
    for fmt in ("xlsx", "csv"):
        data = client.get(f"/api/v1/households/export?format={fmt}",
                          headers=secretary.headers).data
        result = upload(client, secretary, data, filename=f"h.{fmt}").json
        assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 30)


def test_csv_export_says_its_charset_once(client, secretary):
    answer = client.get("/api/v1/households/export?format=csv", headers=secretary.headers)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_export_guards_against_spreadsheet_formulas(client, secretary):
    made = upload(client, secretary, csv_bytes([row(1, 户主="=1+2", 备注="@SUM(A1)")]),
                  filename="h.csv")
    assert made.json["created"] == 1, made.json
    data = client.get("/api/v1/households/export?format=xlsx", headers=secretary.headers).data
    sheet = load_workbook(io.BytesIO(data)).active
    values = [c.value for c in sheet[2]]
    assert values[4] == "'=1+2" and values[11] == "'@SUM(A1)"
    again = upload(client, secretary, data).json
    assert again["unchanged"] == 1  # the guard is taken off on the way back in


def test_the_template_has_the_headers_only(client, secretary):
    resp = client.get("/api/v1/households/import/template?format=xlsx",
                      headers=secretary.headers)
    sheet = load_workbook(io.BytesIO(resp.data)).active
    assert [c.value for c in sheet[1]][:5] == ["户号", "楼栋", "单元", "门牌号", "户主"]
    assert sheet.max_row == 1


@pytest.mark.parametrize("role", ["grid_worker", "supervisor", "building_head", "dispatcher"])
def test_only_admins_and_secretaries_import(client, factory, role):
    actor = factory.actor(role)
    resp = upload(client, actor, xlsx([row(1)]), "?community=C1")
    assert resp.status_code == 403


def test_an_admin_names_the_community(client, factory):
    admin = factory.actor("admin")
    assert upload(client, admin, xlsx([row(1)])).status_code == 422
    assert upload(client, admin, xlsx([row(1)]), "?community=C1").json["created"] == 1
    assert upload(client, admin, xlsx([row(1)]), "?community=NOPE").status_code == 404


def test_cli_imports_and_exports(app, factory, tmp_path):
    factory.world()
    path = tmp_path / "households.xlsx"
    path.write_bytes(xlsx([row(i) for i in range(3)]))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["households", "import", str(path), "--community", "C1",
                              "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would create 3" in dry.output and count() == 0
    real = runner.invoke(args=["households", "import", str(path), "--community", "C1"])
    assert "Created 3" in real.output and count() == 3
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([row(9, 楼栋="B99")]))
    failed = runner.invoke(args=["households", "import", str(bad), "--community", "C1"])
    assert failed.exit_code == 1 and "row 2: building" in failed.output
    out = tmp_path / "out.csv"
    runner.invoke(args=["households", "export", "--community", "C1", "-o", str(out)])
    assert out.read_bytes().decode("utf-8-sig").count("\n") == 4
