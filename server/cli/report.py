"""``gridwork report weekly``: the weekly report (周报) as JSON, CSV or XLSX."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

__all__ = ["command"]

command = AppGroup("report", help="Reports on the case workflow.")


@command.command("weekly")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47 (default: this week).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--community", default=None, help="Only this community (code).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE (default: standard output; xlsx needs --out).")
def weekly(week: str | None, fmt: str, community: str | None, out: Path | None) -> None:
    """Write the weekly report: figures, per department and grid, overdue cases."""
    from server.errors import ApiError
    from server.extensions import db
    from server.services.weekly import weekly_csv, weekly_report, weekly_xlsx

    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.")
    try:
        report = weekly_report(db.session, None, week, community=community)
    except ApiError as exc:
        raise click.ClickException(exc.detail) from exc
    if fmt == "json":
        from schemas.cases import WeeklyReportSchema

        data = json.dumps(WeeklyReportSchema().dump(report), ensure_ascii=False,
                          indent=2).encode() + b"\n"
    else:
        data = weekly_csv(report) if fmt == "csv" else weekly_xlsx(report)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.write_bytes(data)
    summary = report["summary"]
    click.echo(f"Weekly report {report['week']} written to {out}: {summary['reported']} "
               f"reported, {summary['dispatched']} dispatched, {summary['closed']} closed, "
               f"{len(report['overdue'])} overdue.", err=True)
