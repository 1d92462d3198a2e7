"""The weekly report (周报): a week's figures, per department and per grid, and overdue cases.

A week is an ISO week (``2026-W47``: Monday 00:00 to the next Monday, Asia/Shanghai). Its
figures are those of the reports made that week as they stood when the week ended (or now,
for the current week), so a finished week's report reads the same whenever it is fetched.
A case is listed as overdue when it was past its deadline and not closed at some time in
the week. CSV and XLSX carry Chinese column headers; CSV starts with a BOM for Excel.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from server.errors import UnprocessableError
from server.models import Category, Department, Grid, Report
from server.services import cases
from server.services.access import Access
from server.services.case_stats import (
    LOCAL_TZ,
    community_clause,
    department_ranking,
    figures,
    grouped_figures,
    stage_times,
)
from server.services.scopes import stats_scope

__all__ = ["week_bounds", "current_week", "weekly_report", "weekly_csv", "weekly_xlsx",
           "STATUS_ZH"]

UTC = ZoneInfo("UTC")
STATUS_ZH = {"reported": "已上报", "accepted": "已立案", "rejected": "不予立案",
             "dispatched": "已派单", "handled": "已处置", "verified": "已核查", "closed": "已结案"}
_FIGURE_HEADERS = [("reported", "受理上报"), ("accepted", "立案"), ("rejected", "不予立案"),
                   ("dispatched", "派单"), ("closed", "结案"), ("closed_on_time", "按期结案"),
                   ("overdue_open", "超期未结"), ("disposal_rate", "处置率"),
                   ("on_time_rate", "按期结案率")]
_OVERDUE_HEADERS = [("report_id", "案件编号"), ("category", "类别"), ("grid", "网格"),
                    ("department", "责任部门"), ("status", "当前状态"),
                    ("dispatched_at", "派单时间"), ("deadline_at", "处置时限"),
                    ("closed_at", "结案时间"),
                    ("overdue_hours", "超期时长(小时)")]


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of the ISO week ``YYYY-Www`` in Asia/Shanghai; 422 if invalid."""
    match = re.fullmatch(r"(\d{4})-W(\d{2})", week or "")
    try:
        if not match:
            raise ValueError(week)
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise UnprocessableError(f"{week!r} is not an ISO week such as 2026-W47.",
                                 errors={"week": ["Use an ISO week: YYYY-Www."]}) from exc
    start = datetime.combine(monday, time(0), tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), (start + timedelta(days=7)).astimezone(UTC)


def current_week(now: datetime) -> str:
    """The ISO week ``now`` falls in, in Asia/Shanghai."""
    year, week, _day = now.astimezone(LOCAL_TZ).isocalendar()
    return f"{year}-W{week:02d}"


def _overdue_cases(session: Session, scope: Any, start: datetime, as_of: datetime,
                   ) -> list[dict[str, Any]]:
    """Cases past their deadline and not closed at some moment of [start, as_of)."""
    query = (select(Report, Category.name_zh, Grid.code, Department.code)
             .join(Category, Category.code == Report.category_code)
             .outerjoin(Grid, Grid.id == Report.grid_id)
             .outerjoin(Department, Department.id == Report.department_id)
             .where(scope, Report.dispatched_at <= as_of, Report.deadline_at < as_of,
                    or_(Report.closed_at.is_(None), Report.closed_at > Report.deadline_at),
                    or_(Report.closed_at.is_(None), Report.closed_at > start)))
    out: list[dict[str, Any]] = []
    for report, category, grid, dept in session.execute(query):
        # Overdue until it was closed, or until the week's end if it was open then.
        until = min(report.closed_at or as_of, as_of)
        due = report.deadline_at or until
        out.append({"report_id": report.id, "category": category, "grid": grid,
                    "department": dept, "status": report.status,
                    "dispatched_at": report.dispatched_at, "deadline_at": report.deadline_at,
                    "closed_at": report.closed_at,
                    "overdue_hours": round((until - due).total_seconds() / 3600, 1)})
    out.sort(key=lambda r: (-float(r["overdue_hours"]), int(r["report_id"])))
    return out


def weekly_report(session: Session, access: Access | None, week: str | None = None, *,
                  community: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The weekly report for ``week`` (default: this week) in the user's scope (None: all)."""
    when = now or cases.now()
    week = week or current_week(when)
    start, end = week_bounds(week)
    as_of = min(end, when)
    scope = and_(stats_scope(access), community_clause(session, community))
    cohort = and_(scope, Report.created_at >= start, Report.created_at < end)
    return {
        "week": week, "start": start, "end": end, "as_of": as_of, "community": community,
        "summary": figures(session, cohort, as_of),
        "stages": stage_times(session, cohort, as_of),
        "departments": department_ranking(session, cohort, as_of),
        "grids": grouped_figures(session, cohort, as_of, "grid"),
        "overdue": _overdue_cases(session, scope, start, as_of),
    }


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return ""
    if key.endswith("_rate"):
        return f"{value * 100:.2f}%"
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    if key == "status":
        return STATUS_ZH.get(value, value)
    return value


def _tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) for each part of the report, ready for CSV or a sheet."""
    summary = report["summary"]
    head = [("周次", report["week"]), ("起", _cell("start", report["start"])),
            ("止", _cell("end", report["end"])), ("统计截至", _cell("as_of", report["as_of"]))]
    head += [(zh, _cell(key, summary[key])) for key, zh in _FIGURE_HEADERS]
    for stage in report["stages"]:
        for key, label in (("median_s", "中位数"), ("p90_s", "90%分位")):
            hours = None if stage[key] is None else round(stage[key] / 3600, 2)
            head.append((f"{stage['name_zh']}用时{label}(小时)", "" if hours is None else hours))
    figure_cols = [zh for _k, zh in _FIGURE_HEADERS]
    depts = [[d["rank"], d["code"], d["name"], *(_cell(k, d[k]) for k, _ in _FIGURE_HEADERS)]
             for d in report["departments"]]
    grids = [[g["code"] or "网格外", g["name"] or "", *(_cell(k, g[k]) for k, _ in
                                                          _FIGURE_HEADERS)]
             for g in report["grids"]]
    overdue = [[_cell(k, row[k]) for k, _ in _OVERDUE_HEADERS] for row in report["overdue"]]
    return [
        ("汇总", ["指标", "数值"], [list(pair) for pair in head]),
        ("按部门", ["排名", "部门编码", "部门名称", *figure_cols], depts),
        ("按网格", ["网格编码", "网格名称", *figure_cols], grids),
        ("超期案件", [zh for _k, zh in _OVERDUE_HEADERS], overdue),
    ]


def weekly_csv(report: dict[str, Any]) -> bytes:
    """The report as one CSV (UTF-8 with BOM): a titled table per part, blank lines between."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for index, (title, headers, rows) in enumerate(_tables(report)):
        if index:
            writer.writerow([])
        writer.writerow([f"【{title}】"])
        writer.writerow(headers)
        writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def weekly_xlsx(report: dict[str, Any]) -> bytes:
    """The report as an XLSX workbook, one sheet per part."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, headers, rows in _tables(report):
        sheet = book.create_sheet(title)
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
        for column, header in zip(sheet.columns, headers, strict=False):
            sheet.column_dimensions[column[0].column_letter].width = max(10, 2 * len(header) + 2)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
