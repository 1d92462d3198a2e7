"""The weekly report (周报): ISO weeks in Asia/Shanghai, per department and grid, overdue cases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from server.extensions import db
from server.services.weekly import week_bounds
from tests.server.case_support import CaseWorld, local


@pytest.fixture
def w(factory, monkeypatch) -> CaseWorld:
    return CaseWorld(factory, monkeypatch)


def _week_of_cases(w: CaseWorld) -> dict[str, int]:
    """Cases of 2026-W47 (16-22 Nov, Asia/Shanghai), plus one from the week before."""
    ids = {}
    w.set_time(local(2026, 11, 9, 10, 0))  # W46: dispatched, overdue into W47, closed late
    ids["late"] = w.report().id
    w.walk(ids["late"], "dispatched", step_minutes=10)
    w.set_time(local(2026, 11, 17, 9, 0))
    w.walk(ids["late"], "closed", step_minutes=10)

    w.set_time(local(2026, 11, 16, 0, 5))  # W47, five minutes after it starts
    ids["closed"] = w.report().id
    w.walk(ids["closed"], "closed", step_minutes=30)
    w.set_time(local(2026, 11, 17, 8, 0))
    ids["open_overdue"] = w.report(grid="G2").id
    w.walk(ids["open_overdue"], "dispatched", dept="URBAN", step_minutes=10)
    w.set_time(local(2026, 11, 21, 23, 0))
    ids["new"] = w.report().id
    w.set_time(local(2026, 11, 23, 0, 1))  # W48 already: not in the week
    ids["next_week"] = w.report().id
    w.set_time(local(2026, 11, 23, 12, 0))
    return ids


def _weekly(w: CaseWorld, fmt: str = "json", week: str = "2026-W47"):
    answer = w.client.get(f"/api/v1/stats/weekly?week={week}&format={fmt}",
                          headers=w.actor("dispatcher").headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer


def test_an_iso_week_runs_from_monday_to_monday_in_asia_shanghai():
    start, end = week_bounds("2026-W47")
    assert start == datetime(2026, 11, 15, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=7)
    assert week_bounds("2026-W53")[0] == datetime(2026, 12, 27, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("week", ["2025-W53", "2026-W00", "2026-47", "W47"])
def test_a_week_that_does_not_exist_is_422(w, week):
    answer = w.client.get(f"/api/v1/stats/weekly?week={week}",
                          headers=w.actor("dispatcher").headers)
    assert answer.status_code == 422
    assert "week" in answer.get_json()["errors"]


def test_the_week_has_its_figures_per_department_and_grid_and_its_overdue_cases(w):
    ids = _week_of_cases(w)
    report = _weekly(w).get_json()
    summary = report["summary"]
    assert (summary["reported"], summary["accepted"], summary["dispatched"],
            summary["closed"]) == (3, 2, 2, 1)
    assert (summary["disposal_rate"], summary["closed_on_time"]) == (0.5, 1)
    assert report["as_of"] == "2026-11-22T16:00:00+00:00"  # the week's end, not now
    depts = {d["code"]: d for d in report["departments"]}
    assert (depts["WATER"]["dispatched"], depts["WATER"]["closed"]) == (1, 1)
    assert (depts["URBAN"]["dispatched"], depts["URBAN"]["overdue_open"]) == (1, 1)
    grids = {g["code"]: g for g in report["grids"]}
    assert (grids["G1"]["reported"], grids["G2"]["reported"]) == (2, 1)
    overdue = {row["report_id"]: row for row in report["overdue"]}
    assert set(overdue) == {ids["late"], ids["open_overdue"]}
    assert overdue[ids["open_overdue"]]["department"] == "URBAN"
    # The URBAN case fell due on 18 Nov 08:20 and was still open when the week ended.
    due = local(2026, 11, 18, 8, 20)
    assert overdue[ids["open_overdue"]]["overdue_hours"] == round(
        (local(2026, 11, 23, 0, 0) - due).total_seconds() / 3600, 1)


def test_a_past_week_reads_the_same_whenever_it_is_fetched(w):
    _week_of_cases(w)
    before = _weekly(w).get_json()
    w.set_time(local(2026, 12, 1, 9, 0))
    db.session.expire_all()
    w.walk(next(r["report_id"] for r in before["overdue"] if r["status"] == "dispatched"),
           "closed", dept="URBAN")
    after = _weekly(w).get_json()
    assert after["summary"] == before["summary"] and after["departments"] == before["departments"]


def test_csv_has_chinese_headers_and_opens_in_excel(w):
    _week_of_cases(w)
    answer = _weekly(w, "csv")
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"  # charset said once
    assert "gridwork-weekly-2026-W47.csv" in answer.headers["Content-Disposition"]
    raw = answer.get_data()
    assert raw.startswith("\ufeff".encode())  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["【汇总】"] and rows[1] == ["指标", "数值"]
    summary = {row[0]: row[1] for row in rows[2:] if len(row) == 2}
    assert (summary["周次"], summary["受理上报"], summary["处置率"]) == ("2026-W47", "3", "50.00%")
    headers = [row for row in rows if row and row[0] in ("排名", "网格编码", "案件编号")]
    assert headers[0][:4] == ["排名", "部门编码", "部门名称", "受理上报"]
    assert "超期时长(小时)" in headers[2]
    assert any(len(row) > 4 and row[4] == "已派单" for row in rows)  # statuses in Chinese


def test_xlsx_has_a_sheet_per_part_with_chinese_headers(w):
    _week_of_cases(w)
    answer = _weekly(w, "xlsx")
    assert answer.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(answer.get_data()))
    assert book.sheetnames == ["汇总", "按部门", "按网格", "超期案件"]
    assert [c.value for c in book["按部门"][1]][:3] == ["排名", "部门编码", "部门名称"]
    assert book["超期案件"].max_row == 3  # header and two cases


def test_the_cli_writes_the_weekly_report_to_a_file(w, app, tmp_path):
    _week_of_cases(w)
    out = tmp_path / "w47.xlsx"
    result = app.test_cli_runner().invoke(args=["report", "weekly", "--week", "2026-W47",
                                                "--format", "xlsx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_workbook(out)["汇总"]["B2"].value == "2026-W47"
    bad = app.test_cli_runner().invoke(args=["report", "weekly", "--week", "2025-W53"])
    assert bad.exit_code != 0 and "ISO week" in bad.output
