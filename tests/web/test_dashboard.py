"""The dashboard in a real browser: coverage per grid and worker, overdue priority households,
the case funnel and department ranking, the weekly trend, and the weekly report download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.web.conftest import login, screenshot, wait_dashboard_ready, wait_map_ready


def _open(page: Any, username: str, password: str) -> None:
    login(page, username, password)
    wait_map_ready(page)  # leaving earlier would abort the map's requests
    page.click("nav a[href='/app/dashboard']")
    wait_dashboard_ready(page)


def _rows(page: Any, table: str) -> list[str]:
    return list(page.locator(f"#{table} tbody tr").all_inner_texts())


def test_secretary_sees_coverage_cases_ranking_and_trend(page: Any, world: Any) -> None:
    _open(page, "shuji", world.password)
    assert page.inner_text("#c-households") == "14"
    assert page.inner_text("#c-visits") == "7"
    assert page.inner_text("#c-coverage") == "42.9%"  # 6 of 14 households met
    grids = _rows(page, "grid-table")
    assert len(grids) == 2 and "一网格" in grids[0] and "50.0%" in grids[0]
    assert len(_rows(page, "worker-table")) == 2
    overdue = _rows(page, "overdue-table")
    assert any("1-103" in row and "残疾" in row and "超期" in row for row in overdue), overdue
    assert page.inner_text("#k-reported") == "2" and page.inner_text("#k-dispatched") == "2"
    assert page.inner_text("#k-disposal") == "0.0%"
    ranking = _rows(page, "dept-table")
    assert len(ranking) == 1 and "水务局" in ranking[0]
    for chart in ("funnel-chart", "trend-chart"):
        assert page.locator(f"#{chart} canvas").count() >= 1
    assert page.evaluate("echarts.getInstanceByDom(document.getElementById('trend-chart'))"
                         ".getOption().series.length") == 5
    screenshot(page, "dashboard-secretary")


def test_changing_the_period_changes_the_coverage(page: Any, world: Any) -> None:
    _open(page, "shuji", world.password)
    page.fill("#d-from", page.evaluate("GW.addDays(GW.today(), -6)"))
    page.dispatch_event("#d-from", "change")
    wait_dashboard_ready(page)
    page.wait_for_selector("#c-visits:text-is('5')")
    assert page.inner_text("#c-coverage") == "28.6%"  # 4 of 14 met in the last 7 days


def test_weekly_report_downloads_as_excel_with_chinese_headers(page: Any, world: Any,
                                                              tmp_path: Path) -> None:
    _open(page, "shuji", world.password)
    week = page.input_value("#d-week")
    with page.expect_download() as info:
        page.click("#weekly-xlsx")
    download = info.value
    assert download.suggested_filename == f"gridwork-weekly-{week}.xlsx"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    book = load_workbook(target, read_only=True)
    cells = [str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
             for c in row if c is not None]
    book.close()
    assert any("部门" in c for c in cells), cells[:20]


def test_grid_worker_sees_only_their_grid_and_no_case_figures(page: Any, world: Any) -> None:
    _open(page, "wangge1", world.password)
    assert page.inner_text("#c-households") == "8"
    grids = _rows(page, "grid-table")
    assert len(grids) == 1 and "一网格" in grids[0]
    assert not page.is_visible("#k-reported")
    assert not page.is_visible("#weekly-xlsx")
    assert all("1-2" not in row for row in _rows(page, "overdue-table"))
    screenshot(page, "dashboard-grid-worker")


def _clipped_boxes(page: Any) -> list[str]:
    """Titles of the dashboard's boxes whose content is wider than the box (cut off)."""
    return list(page.evaluate(
        "[...document.querySelectorAll('.box')].filter(b => b.offsetParent !== null"
        " && b.scrollWidth > b.clientWidth + 1).map(b => b.querySelector('h2').textContent)"))


def test_no_table_is_cut_off_in_either_language(page: Any, world: Any) -> None:
    """English headers are longer ("Overdue open"): they wrap instead of leaving the box."""
    _open(page, "shuji", world.password)
    assert _clipped_boxes(page) == []
    page.click("#locale-switch")
    page.wait_for_selector("html[lang='en']")
    wait_dashboard_ready(page)
    assert "Overdue open" in page.inner_text("#dept-table thead")
    assert _clipped_boxes(page) == []
    page.wait_for_load_state("networkidle")  # the trend's last answers, before the page closes


def test_secretary_sees_patrol_length_and_time_per_worker_and_day(page: Any,
                                                                  world: Any) -> None:
    """Each row a worker's day (巡查), from the tracks the phones sent; it links to the map."""
    _open(page, "shuji", world.password)
    patrols = _rows(page, "patrol-table")
    assert len(patrols) == 1 and "周网格员" in patrols[0] and world.today in patrols[0]
    km = f"{world.track_length_m / 1000:.2f} 公里"
    assert km in patrols[0], patrols
    minutes = round(world.track_seconds / 60)
    assert f"{minutes // 60} 小时 {minutes % 60} 分" in patrols[0], patrols
    page.click("#patrol-table a")
    page.wait_for_selector("path.track-line", state="attached")  # a flat line has no height
    assert page.locator("path.track-line").count() == 2
