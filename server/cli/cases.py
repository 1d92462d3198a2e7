"""``gridwork cases``: the case workflow's housekeeping (escalating overdue cases)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

__all__ = ["command"]

command = AppGroup("cases", help="The case workflow (立案 → 结案).")


@command.command("escalate")
@click.option("--limit", default=500, show_default=True, help="Most cases to escalate in one run.")
def escalate(limit: int) -> None:
    """Escalate dispatched cases past their deadline (run it from cron every few minutes)."""
    from server.extensions import db
    from server.services.escalation import escalate_overdue

    ids = escalate_overdue(db.session, limit=limit)
    click.echo(f"Escalated {len(ids)} overdue case(s)"
               + (f": {', '.join(map(str, ids))}." if ids else "."))
